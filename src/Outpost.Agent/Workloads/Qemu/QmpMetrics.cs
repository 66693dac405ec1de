using System.Text.Json;

namespace Outpost.Agent.Workloads.Qemu;

/// <summary>Reads QMP's query-block, query-blockstats and query-balloon replies into workload metrics; anything missing is skipped.</summary>
internal static class QmpMetrics
{
    /// <summary>One entry per attached image (CD-ROMs included), matched with its I/O counters by device or qdev name.</summary>
    public static IReadOnlyList<WorkloadDiskMetrics> Disks(JsonElement? block, JsonElement? stats)
    {
        if (block is not { ValueKind: JsonValueKind.Array } devices)
        {
            return [];
        }

        var counters = new Dictionary<string, (ulong Read, ulong Written)>(StringComparer.Ordinal);
        if (stats is { ValueKind: JsonValueKind.Array } all)
        {
            foreach (var entry in all.EnumerateArray())
            {
                if (entry.TryGetProperty("stats", out var s))
                {
                    var io = (Number(s, "rd_bytes"), Number(s, "wr_bytes"));
                    foreach (var key in new[] { Text(entry, "device"), Text(entry, "qdev") }.Where(k => k.Length > 0))
                    {
                        counters[key] = io;
                    }
                }
            }
        }

        var disks = new List<WorkloadDiskMetrics>();
        foreach (var device in devices.EnumerateArray())
        {
            if (!device.TryGetProperty("inserted", out var inserted) || !inserted.TryGetProperty("image", out var image))
            {
                continue;
            }

            var io = counters.GetValueOrDefault(Text(device, "device"), counters.GetValueOrDefault(Text(device, "qdev")));
            disks.Add(new WorkloadDiskMetrics(
                Path.GetFileName(Text(image, "filename")), Number(image, "virtual-size"), Number(image, "actual-size"), Text(image, "format"), io.Read, io.Written));
        }

        return disks;
    }

    public static ulong? BalloonBytes(JsonElement? balloon) =>
        balloon is { ValueKind: JsonValueKind.Object } b && b.TryGetProperty("actual", out var actual) && actual.TryGetUInt64(out var bytes) ? bytes : null;

    private static ulong Number(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.TryGetUInt64(out var number) ? number : 0;

    private static string Text(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() ?? "" : "";
}
