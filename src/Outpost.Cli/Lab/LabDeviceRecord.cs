using System.Text.Json;

namespace Outpost.Cli.Lab;

/// <summary>What `lab up` decided for a device, kept beside its disk for `lab list` and the next `lab up`.</summary>
/// <param name="ConfigHash">SHA-256 of the config folder last written into the disk's CONFIG partition.</param>
internal sealed record LabDeviceRecord(string Name, string Serial, string Accelerator, string AcceleratorReason, int MemoryMiB, string Image,
    string ConfigHash, DateTimeOffset StartedAt)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerOptions.Web) { WriteIndented = true };

    public static LabDeviceRecord? Load(LabDevicePaths device)
    {
        try
        {
            return File.Exists(device.RecordFile) ? JsonSerializer.Deserialize<LabDeviceRecord>(File.ReadAllText(device.RecordFile), Json) : null;
        }
        catch (JsonException)
        {
            // Hand-edited or cut short: treated like no record, so the next `lab up` writes a good one.
            return null;
        }
    }

    public void Save(LabDevicePaths device)
    {
        var temp = device.RecordFile + ".tmp";
        File.WriteAllText(temp, JsonSerializer.Serialize(this, Json));
        File.Move(temp, device.RecordFile, overwrite: true);
    }
}
