using System.Buffers.Binary;
using System.Text;

namespace Outpost.Disk.Fat;

/// <summary>One live short entry of a directory and the long-name entries that belong to it.</summary>
/// <param name="FirstSlot">Index of the first 32-byte slot (the first long-name entry, or the short entry when there is no long name).</param>
/// <param name="ShortSlot">Index of the short entry's slot.</param>
/// <param name="Name">The long name, or the short name when the entry has no (valid) long name.</param>
/// <param name="ShortName">The 11 bytes of the short name as stored.</param>
internal sealed record FatDirectoryRecord(int FirstSlot, int ShortSlot, string Name, byte[] ShortName, byte Attributes, uint FirstCluster, uint Size)
{
    public bool IsDirectory => (Attributes & FatDirectoryEncoder.AttributeDirectory) != 0;

    public bool IsVolumeLabel => (Attributes & FatDirectoryEncoder.AttributeVolumeLabel) != 0;

    public bool IsDotEntry => ShortName[0] == (byte)'.';

    /// <summary>A file or subdirectory (not the label, ".", or "..").</summary>
    public bool IsNamed => !IsVolumeLabel && !IsDotEntry;

    /// <summary>The short name as "STEM.EXT".</summary>
    public string ShortDisplayName => FatDirectoryParser.ShortDisplayName(ShortName, 0);
}

/// <summary>A parsed directory: its live entries and which slots are free for new entries.</summary>
internal sealed class FatDirectoryListing(List<FatDirectoryRecord> records, bool[] free, int endSlot)
{
    public IReadOnlyList<FatDirectoryRecord> Records => records;

    public int SlotCount => free.Length;

    /// <summary>Index of the first never-used (0x00) slot, after which every slot is free; <see cref="SlotCount"/> when there is none.</summary>
    public int EndSlot => endSlot;

    /// <summary>Free: never used, deleted (0xE5), or a long-name entry no short entry claims (left by an interrupted write).</summary>
    public bool IsFree(int slot) => free[slot];
}

/// <summary>
/// Reads the 32-byte entries of a directory the way Linux's vfat does: a long name counts only when its entries are
/// complete, in sequence, and carry the checksum of the short entry that follows them; otherwise the short name is used.
/// </summary>
internal static class FatDirectoryParser
{
    private const int Slot = FatDirectoryEncoder.EntrySize;
    private const byte AttributeLongName = 0x0F;
    private const byte Deleted = 0xE5;
    private const int MaxLongEntries = 20; // 20 x 13 = 260 >= 255 characters
    private const byte LowerCaseStem = 0x08;
    private const byte LowerCaseExtension = 0x10;

    public static FatDirectoryListing Parse(ReadOnlySpan<byte> directory)
    {
        int slots = directory.Length / Slot;
        var free = new bool[slots];
        var records = new List<FatDirectoryRecord>();
        var fragments = new string[MaxLongEntries];
        int pendingStart = -1; // first slot of the long-name entries being collected
        int pendingCount = 0;
        int expected = 0;      // sequence number the next long-name entry must have
        byte pendingChecksum = 0;

        void Orphan(int upTo)
        {
            for (int s = pendingStart; s >= 0 && s < upTo; s++)
            {
                free[s] = true;
            }
            pendingStart = -1;
        }

        int end = slots;
        for (int slot = 0; slot < slots; slot++)
        {
            var e = directory.Slice(slot * Slot, Slot);
            if (e[0] == 0)
            {
                Orphan(slot);
                end = slot;
                for (int s = slot; s < slots; s++)
                {
                    free[s] = true;
                }
                break;
            }
            if (e[0] == Deleted)
            {
                Orphan(slot);
                free[slot] = true;
                continue;
            }
            if ((e[11] & 0x3F) == AttributeLongName)
            {
                int sequence = e[0] & 0x1F;
                if ((e[0] & 0x40) != 0)
                {
                    Orphan(slot);
                    if (sequence is 0 or > MaxLongEntries)
                    {
                        free[slot] = true;
                        continue;
                    }
                    pendingStart = slot;
                    pendingCount = sequence;
                    pendingChecksum = e[13];
                }
                else if (pendingStart < 0 || sequence == 0 || sequence != expected || e[13] != pendingChecksum)
                {
                    Orphan(slot);
                    free[slot] = true;
                    continue;
                }
                fragments[sequence - 1] = LongNameFragment(e);
                expected = sequence - 1;
                continue;
            }

            var shortName = e[..11].ToArray();
            string name;
            int first = slot;
            if (pendingStart >= 0 && expected == 0 && pendingChecksum == FatNames.Checksum(shortName))
            {
                name = string.Concat(fragments.Take(pendingCount));
                first = pendingStart;
                pendingStart = -1;
            }
            else
            {
                Orphan(slot);
                name = ShortDisplayName(shortName, e[12]);
            }
            uint cluster = (uint)(BinaryPrimitives.ReadUInt16LittleEndian(e[20..]) << 16) | BinaryPrimitives.ReadUInt16LittleEndian(e[26..]);
            records.Add(new FatDirectoryRecord(first, slot, name, shortName, e[11], cluster, BinaryPrimitives.ReadUInt32LittleEndian(e[28..])));
        }
        Orphan(end);
        return new FatDirectoryListing(records, free, end);
    }

    /// <summary>"STEM.EXT", lower-cased where the NT case flags (byte 12) say so, as Linux and Windows show it.</summary>
    public static string ShortDisplayName(ReadOnlySpan<byte> shortName, byte caseFlags)
    {
        Span<byte> name = stackalloc byte[11];
        shortName[..11].CopyTo(name);
        if (name[0] == 0x05)
        {
            name[0] = Deleted; // a real first byte 0xE5 is stored as 0x05
        }
        string stem = Encoding.ASCII.GetString(name[..8]).TrimEnd();
        string extension = Encoding.ASCII.GetString(name[8..]).TrimEnd();
        if ((caseFlags & LowerCaseStem) != 0)
        {
            stem = stem.ToLowerInvariant();
        }
        if ((caseFlags & LowerCaseExtension) != 0)
        {
            extension = extension.ToLowerInvariant();
        }
        return extension.Length == 0 ? stem : stem + "." + extension;
    }

    private static string LongNameFragment(ReadOnlySpan<byte> e)
    {
        Span<char> units = stackalloc char[13];
        int count = 0;
        foreach (var (start, length) in (ReadOnlySpan<(int, int)>)[(1, 5), (14, 6), (28, 2)])
        {
            for (int i = 0; i < length; i++)
            {
                char c = (char)BinaryPrimitives.ReadUInt16LittleEndian(e[(start + i * 2)..]);
                if (c is '\0' or '\uffff')
                {
                    return new string(units[..count]);
                }
                units[count++] = c;
            }
        }
        return new string(units[..count]);
    }
}
