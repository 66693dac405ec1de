using System.Buffers.Binary;

namespace Outpost.Disk.Fat;

/// <summary>Writes 32-byte directory entries: short (8.3) entries and the VFAT long-name entries before them.</summary>
internal static class FatDirectoryEncoder
{
    public const int EntrySize = 32;
    public const byte AttributeDirectory = 0x10;
    public const byte AttributeArchive = 0x20;
    public const byte AttributeVolumeLabel = 0x08;
    private const byte AttributeLongName = 0x0F;
    private const int CharsPerLongEntry = 13;

    public static int LongEntryCount(string name) => (name.Length + CharsPerLongEntry - 1) / CharsPerLongEntry;

    public static void WriteShort(Span<byte> entry, ReadOnlySpan<byte> shortName, byte attributes, uint cluster, uint size, DateTime timestamp)
    {
        var (date, time) = ToDos(timestamp);
        shortName.CopyTo(entry);
        entry[11] = attributes;
        BinaryPrimitives.WriteUInt16LittleEndian(entry[14..], time);  // creation
        BinaryPrimitives.WriteUInt16LittleEndian(entry[16..], date);
        BinaryPrimitives.WriteUInt16LittleEndian(entry[18..], date);  // last access
        BinaryPrimitives.WriteUInt16LittleEndian(entry[20..], (ushort)(cluster >> 16));
        BinaryPrimitives.WriteUInt16LittleEndian(entry[22..], time);  // modification
        BinaryPrimitives.WriteUInt16LittleEndian(entry[24..], date);
        BinaryPrimitives.WriteUInt16LittleEndian(entry[26..], (ushort)cluster);
        BinaryPrimitives.WriteUInt32LittleEndian(entry[28..], size);
    }

    /// <summary>
    /// Points an existing short entry at new content: first cluster, size, and the modification and access stamps.
    /// Name, attributes and creation stamp stay.
    /// </summary>
    public static void Retarget(Span<byte> entry, uint cluster, uint size, DateTime timestamp)
    {
        var (date, time) = ToDos(timestamp);
        BinaryPrimitives.WriteUInt16LittleEndian(entry[18..], date);  // last access
        BinaryPrimitives.WriteUInt16LittleEndian(entry[20..], (ushort)(cluster >> 16));
        BinaryPrimitives.WriteUInt16LittleEndian(entry[22..], time);  // modification
        BinaryPrimitives.WriteUInt16LittleEndian(entry[24..], date);
        BinaryPrimitives.WriteUInt16LittleEndian(entry[26..], (ushort)cluster);
        BinaryPrimitives.WriteUInt32LittleEndian(entry[28..], size);
    }

    /// <summary>Writes the long-name entries for <paramref name="name"/>, last fragment first as VFAT requires.</summary>
    public static void WriteLong(Span<byte> entries, string name, byte checksum)
    {
        int count = LongEntryCount(name);
        for (int sequence = count; sequence >= 1; sequence--)
        {
            var entry = entries.Slice((count - sequence) * EntrySize, EntrySize);
            entry[0] = (byte)(sequence | (sequence == count ? 0x40 : 0));
            entry[11] = AttributeLongName;
            entry[13] = checksum;
            int start = (sequence - 1) * CharsPerLongEntry;
            for (int i = 0; i < CharsPerLongEntry; i++)
            {
                int index = start + i;
                // After the name: one NUL terminator, then 0xFFFF padding.
                ushort unit = index < name.Length ? name[index] : index == name.Length ? (ushort)0 : (ushort)0xFFFF;
                int offset = i switch
                {
                    < 5 => 1 + i * 2,
                    < 11 => 14 + (i - 5) * 2,
                    _ => 28 + (i - 11) * 2,
                };
                BinaryPrimitives.WriteUInt16LittleEndian(entry[offset..], unit);
            }
        }
    }

    private static (ushort Date, ushort Time) ToDos(DateTime t)
    {
        if (t.Year < 1980)
        {
            t = new DateTime(1980, 1, 1);
        }
        else if (t.Year > 2107)
        {
            t = new DateTime(2107, 12, 31, 23, 59, 58);
        }
        return ((ushort)(((t.Year - 1980) << 9) | (t.Month << 5) | t.Day),
                (ushort)((t.Hour << 11) | (t.Minute << 5) | (t.Second / 2)));
    }
}
