using System.Text;

namespace Outpost.Disk.Fat;

/// <summary>VFAT name rules: long-name validation, 8.3 short-name generation and the LFN checksum.</summary>
internal static class FatNames
{
    private const string ShortNameSpecials = "!#$%&'()-@^_`{}~";
    private const string LongNameForbidden = "\"*/:<>?\\|";

    public static void ValidateLongName(string name)
    {
        if (name.Length is 0 or > 255 || name is "." or ".."
            || name.Any(c => c < 0x20 || LongNameForbidden.Contains(c))
            || name.EndsWith(' ') || name.EndsWith('.'))
        {
            throw new FatLayoutException(
                $"'{name}' is not a valid FAT file name: use 1-255 characters without control characters or any of {LongNameForbidden}, not ending in a space or dot.");
        }
    }

    /// <summary>The 11-byte short name when <paramref name="name"/> is exactly a valid upper-case 8.3 name, else null.</summary>
    public static byte[]? ExactShortName(string name)
    {
        int dot = name.LastIndexOf('.');
        string stem = dot < 0 ? name : name[..dot];
        string extension = dot < 0 ? "" : name[(dot + 1)..];
        if (stem.Length is 0 or > 8 || extension.Length > 3 || (dot >= 0 && extension.Length == 0)
            || !(stem + extension).All(IsShortNameChar))
        {
            return null;
        }
        return Pack(stem, extension);
    }

    /// <summary>Makes a unique "STEM~N.EXT" short name for a long name (the Windows basis-name scheme).</summary>
    public static byte[] GenerateShortName(string name, ISet<string> taken)
    {
        string upper = name.ToUpperInvariant();
        int dot = upper.LastIndexOf('.');
        string stem = Clean(dot > 0 ? upper[..dot] : upper);
        string extension = dot > 0 ? Clean(upper[(dot + 1)..]) : "";
        if (extension.Length > 3)
        {
            extension = extension[..3];
        }
        if (stem.Length == 0)
        {
            stem = "_";
        }
        for (int n = 1; n < 1_000_000; n++)
        {
            string suffix = "~" + n;
            string candidateStem = stem[..Math.Min(stem.Length, 8 - suffix.Length)] + suffix;
            var packed = Pack(candidateStem, extension);
            if (taken.Add(Encoding.ASCII.GetString(packed)))
            {
                return packed;
            }
        }
        throw new FatLayoutException($"Too many names in one directory resemble '{name}' to give it a unique short name.");
    }

    /// <summary>LFN checksum of the 11-byte short name, stored in every LFN entry.</summary>
    public static byte Checksum(ReadOnlySpan<byte> shortName)
    {
        byte sum = 0;
        foreach (byte b in shortName)
        {
            sum = (byte)(((sum & 1) << 7) + (sum >> 1) + b);
        }
        return sum;
    }

    public static string Key(byte[] shortName) => Encoding.ASCII.GetString(shortName);

    private static bool IsShortNameChar(char c) =>
        c is >= 'A' and <= 'Z' or >= '0' and <= '9' || ShortNameSpecials.Contains(c);

    private static string Clean(string part)
    {
        var builder = new StringBuilder();
        foreach (char c in part)
        {
            if (c is ' ' or '.')
            {
                continue;
            }
            builder.Append(IsShortNameChar(c) ? c : '_');
        }
        return builder.ToString();
    }

    private static byte[] Pack(string stem, string extension)
    {
        var packed = Encoding.ASCII.GetBytes(stem.PadRight(8) + extension.PadRight(3));
        if (packed[0] == 0xE5)
        {
            packed[0] = 0x05; // 0xE5 marks deleted entries; FAT stores it as 0x05
        }
        return packed;
    }
}
