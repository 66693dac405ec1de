namespace Outpost.Controller.Apps;

/// <summary>
/// Linux's CPU list syntax ("0-3,6": CPU numbers and inclusive ranges, comma-separated), the form cpusets and
/// <c>taskset -c</c> take and the device pins a VM with. Checked here so a typo is a 400, not a VM that fails to start.
/// </summary>
public static class CpuList
{
    /// <summary>CPU numbers must be below this (the CONFIG_NR_CPUS of common kernels).</summary>
    public const int MaxCpus = 1024;

    /// <summary>Why <paramref name="text"/> is not a CPU list, or null when it is one.</summary>
    public static string? Problem(string text)
    {
        if (text.Length == 0)
        {
            return "it is empty";
        }

        foreach (var part in text.Split(','))
        {
            var dash = part.IndexOf('-');
            var first = dash < 0 ? part : part[..dash];
            var last = dash < 0 ? part : part[(dash + 1)..];
            if (Number(first) is not { } start || Number(last) is not { } end)
            {
                return part.Length == 0 ? "it has an empty entry" : $"'{part}' is neither a CPU number nor a range N-M";
            }

            if (start >= MaxCpus || end >= MaxCpus)
            {
                return $"'{part}' names a CPU at or above {MaxCpus}";
            }

            if (start > end)
            {
                return $"the range '{part}' descends; write it as {end}-{start}";
            }
        }

        return null;
    }

    // Digits only: Linux refuses signs, spaces and strides inside an entry as well.
    private static int? Number(string text) =>
        text.Length is > 0 and <= 5 && text.All(char.IsAsciiDigit) ? int.Parse(text) : null;
}
