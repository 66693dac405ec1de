using System.Buffers.Binary;
using System.Text;

namespace Outpost.Disk.Gpt;

/// <summary>Byte-level encoding and decoding of the protective MBR, GPT headers and entry arrays.</summary>
internal static class GptCodec
{
    private const int HeaderSize = 92;
    private const ulong Signature = 0x5452415020494645; // "EFI PART" read as little-endian u64
    private const uint Revision = 0x00010000;
    private const int MaxNameChars = 36;

    public static void Validate(GptLayout layout)
    {
        if (layout.DiskSizeBytes % GptLayout.SectorSize != 0)
        {
            throw new GptFormatException($"Disk size {layout.DiskSizeBytes} is not a multiple of {GptLayout.SectorSize}; round it to whole sectors.");
        }
        if (layout.LastUsableLba < GptLayout.FirstUsableLba)
        {
            throw new GptFormatException($"Disk size {layout.DiskSizeBytes} is too small for a GPT; it needs at least {(2 * GptLayout.FirstUsableLba + 1) * GptLayout.SectorSize} bytes.");
        }
        var sorted = layout.Partitions.OrderBy(p => p.FirstLba).ToList();
        foreach (var p in sorted)
        {
            if (p.Number is < 1 or > GptLayout.EntryCount)
            {
                throw new GptFormatException($"Partition number {p.Number} is outside 1..{GptLayout.EntryCount}.");
            }
            if (p.TypeGuid == Guid.Empty)
            {
                throw new GptFormatException($"Partition {p.Number} has an empty type GUID, which GPT reserves for unused entries.");
            }
            if (p.Name.Length > MaxNameChars)
            {
                throw new GptFormatException($"Partition {p.Number} name '{p.Name}' is longer than {MaxNameChars} characters; shorten it.");
            }
            if (p.FirstLba < GptLayout.FirstUsableLba || p.LastLba > layout.LastUsableLba || p.LastLba < p.FirstLba)
            {
                throw new GptFormatException(
                    $"Partition {p.Number} spans sectors {p.FirstLba}-{p.LastLba}, outside the usable range {GptLayout.FirstUsableLba}-{layout.LastUsableLba}; grow the disk or shrink the partition.");
            }
        }
        if (layout.Partitions.GroupBy(p => p.Number).FirstOrDefault(g => g.Count() > 1) is { } duplicate)
        {
            throw new GptFormatException($"Partition number {duplicate.Key} is used twice.");
        }
        for (int i = 1; i < sorted.Count; i++)
        {
            if (sorted[i].FirstLba <= sorted[i - 1].LastLba)
            {
                throw new GptFormatException($"Partitions {sorted[i - 1].Number} and {sorted[i].Number} overlap.");
            }
        }
    }

    public static byte[] EncodeProtectiveMbr(GptLayout layout)
    {
        var mbr = new byte[GptLayout.SectorSize];
        var entry = mbr.AsSpan(446, 16);
        entry[1] = 0x00; entry[2] = 0x02; entry[3] = 0x00; // CHS of LBA 1
        entry[4] = 0xEE;                                   // GPT protective
        entry[5] = 0xFF; entry[6] = 0xFF; entry[7] = 0xFF; // CHS "too big"
        BinaryPrimitives.WriteUInt32LittleEndian(entry[8..], 1);
        BinaryPrimitives.WriteUInt32LittleEndian(entry[12..], (uint)Math.Min(layout.LastLba, uint.MaxValue));
        mbr[510] = 0x55;
        mbr[511] = 0xAA;
        return mbr;
    }

    public static byte[] EncodeEntryArray(GptLayout layout)
    {
        var array = new byte[GptLayout.EntryCount * GptLayout.EntrySize];
        foreach (var p in layout.Partitions)
        {
            var entry = array.AsSpan((p.Number - 1) * GptLayout.EntrySize, GptLayout.EntrySize);
            p.TypeGuid.TryWriteBytes(entry[0..16]);   // .NET's byte order is GPT's mixed-endian order
            p.UniqueGuid.TryWriteBytes(entry[16..32]);
            BinaryPrimitives.WriteInt64LittleEndian(entry[32..], p.FirstLba);
            BinaryPrimitives.WriteInt64LittleEndian(entry[40..], p.LastLba);
            BinaryPrimitives.WriteUInt64LittleEndian(entry[48..], p.Attributes);
            Encoding.Unicode.GetBytes(p.Name, entry[56..]);
        }
        return array;
    }

    public static byte[] EncodeHeader(GptLayout layout, bool primary, uint entryArrayCrc)
    {
        var sector = new byte[GptLayout.SectorSize];
        var h = sector.AsSpan();
        long myLba = primary ? 1 : layout.LastLba;
        long alternateLba = primary ? layout.LastLba : 1;
        long entriesLba = primary ? 2 : layout.LastLba - GptLayout.EntryArraySectors;
        BinaryPrimitives.WriteUInt64LittleEndian(h, Signature);
        BinaryPrimitives.WriteUInt32LittleEndian(h[8..], Revision);
        BinaryPrimitives.WriteUInt32LittleEndian(h[12..], HeaderSize);
        BinaryPrimitives.WriteInt64LittleEndian(h[24..], myLba);
        BinaryPrimitives.WriteInt64LittleEndian(h[32..], alternateLba);
        BinaryPrimitives.WriteInt64LittleEndian(h[40..], GptLayout.FirstUsableLba);
        BinaryPrimitives.WriteInt64LittleEndian(h[48..], layout.LastUsableLba);
        layout.DiskGuid.TryWriteBytes(h[56..72]);
        BinaryPrimitives.WriteInt64LittleEndian(h[72..], entriesLba);
        BinaryPrimitives.WriteUInt32LittleEndian(h[80..], GptLayout.EntryCount);
        BinaryPrimitives.WriteUInt32LittleEndian(h[84..], GptLayout.EntrySize);
        BinaryPrimitives.WriteUInt32LittleEndian(h[88..], entryArrayCrc);
        BinaryPrimitives.WriteUInt32LittleEndian(h[16..], Crc32.Compute(h[..HeaderSize]));
        return sector;
    }

    /// <summary>Decoded header fields we need; null when the sector is not a valid header.</summary>
    public sealed record Header(long MyLba, long AlternateLba, long LastUsableLba, Guid DiskGuid, long EntriesLba, uint EntryCount, uint EntrySize, uint EntryArrayCrc);

    public static Header? DecodeHeader(ReadOnlySpan<byte> sector)
    {
        if (BinaryPrimitives.ReadUInt64LittleEndian(sector) != Signature)
        {
            return null;
        }
        uint size = BinaryPrimitives.ReadUInt32LittleEndian(sector[12..]);
        if (size < HeaderSize || size > sector.Length)
        {
            return null;
        }
        var copy = sector[..(int)size].ToArray();
        uint storedCrc = BinaryPrimitives.ReadUInt32LittleEndian(copy.AsSpan(16));
        BinaryPrimitives.WriteUInt32LittleEndian(copy.AsSpan(16), 0);
        if (Crc32.Compute(copy) != storedCrc)
        {
            return null;
        }
        return new Header(
            BinaryPrimitives.ReadInt64LittleEndian(sector[24..]),
            BinaryPrimitives.ReadInt64LittleEndian(sector[32..]),
            BinaryPrimitives.ReadInt64LittleEndian(sector[48..]),
            new Guid(sector[56..72]),
            BinaryPrimitives.ReadInt64LittleEndian(sector[72..]),
            BinaryPrimitives.ReadUInt32LittleEndian(sector[80..]),
            BinaryPrimitives.ReadUInt32LittleEndian(sector[84..]),
            BinaryPrimitives.ReadUInt32LittleEndian(sector[88..]));
    }

    public static List<GptPartition> DecodeEntries(ReadOnlySpan<byte> array, uint count, uint entrySize)
    {
        var partitions = new List<GptPartition>();
        for (int i = 0; i < count; i++)
        {
            var entry = array.Slice(i * (int)entrySize, GptLayout.EntrySize);
            var type = new Guid(entry[0..16]);
            if (type == Guid.Empty)
            {
                continue;
            }
            string name = Encoding.Unicode.GetString(entry[56..128]);
            int end = name.IndexOf('\0');
            partitions.Add(new GptPartition(
                i + 1,
                type,
                new Guid(entry[16..32]),
                BinaryPrimitives.ReadInt64LittleEndian(entry[32..]),
                BinaryPrimitives.ReadInt64LittleEndian(entry[40..]),
                BinaryPrimitives.ReadUInt64LittleEndian(entry[48..]),
                end < 0 ? name : name[..end]));
        }
        return partitions;
    }
}
