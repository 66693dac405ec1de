namespace Outpost.Agent.Identity;

/// <summary>
/// The serial numbers sent in ZRegisterMsg and the X-Serial-Number / X-Soft-Serial headers. The controller
/// matches either against its allow list, so when no hardware serial is readable the soft serial doubles as
/// the serial.
/// </summary>
public sealed record DeviceSerials(string Serial, string SoftSerial)
{
    public const string DmiSerialPath = "/sys/class/dmi/id/product_serial";

    public static DeviceSerials Resolve(string? softSerial, string? hardwareSerial)
    {
        var soft = softSerial ?? "";
        var hardware = IsMeaningful(hardwareSerial) ? hardwareSerial!.Trim() : null;
        return new DeviceSerials(hardware ?? soft, soft);
    }

    /// <summary>The DMI product serial when it is readable (usually root only) and not a vendor placeholder.</summary>
    public static string? ReadHardwareSerial(string path = DmiSerialPath)
    {
        try
        {
            var value = File.ReadAllText(path).Trim();
            return IsMeaningful(value) ? value : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static bool IsMeaningful(string? serial)
    {
        if (string.IsNullOrWhiteSpace(serial))
        {
            return false;
        }

        var value = serial.Trim();
        string[] placeholders = ["0", "None", "Not Specified", "To Be Filled By O.E.M.", "Default string", "System Serial Number"];
        return !placeholders.Contains(value, StringComparer.OrdinalIgnoreCase);
    }
}
