namespace Outpost.Disk.Gpt;

/// <summary>Reads and updates the GPT of an existing disk (image file or block device stream).</summary>
public static class GptDisk
{
    /// <summary>
    /// Reads the GPT. The primary copy is used when its header and entry-array CRCs are valid,
    /// otherwise the backup (found at the last sector of the stream).
    /// The returned <see cref="GptLayout.DiskSizeBytes"/> is where the tables say the disk ends,
    /// which is smaller than the stream after the disk grew (see <see cref="RelocateBackupToEnd"/>).
    /// </summary>
    /// <exception cref="GptFormatException">Neither copy is valid.</exception>
    public static GptLayout Read(Stream disk)
    {
        return TryReadCopy(disk, 1) ?? TryReadCopy(disk, disk.Length / GptLayout.SectorSize - 1)
            ?? throw new GptFormatException(
                "No valid GPT found: both the primary (LBA 1) and backup (last sector) headers are missing or fail their CRC check. Write a new table with GptWriter.");
    }

    /// <summary>
    /// Reads only the primary GPT from the first <see cref="GptLayout.FirstUsableLba"/> sectors (17 KiB), without
    /// asking the stream for its length: a block device opened as a FileStream reports a Length of 0, and a reader
    /// such as the agent's device report should not need more than the head of the disk.
    /// </summary>
    /// <exception cref="GptFormatException">The primary header or entry array is missing or fails its CRC check.</exception>
    public static GptLayout ReadPrimary(Stream disk)
    {
        var head = new byte[GptLayout.FirstUsableLba * GptLayout.SectorSize];
        disk.Position = 0;
        var read = disk.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        try
        {
            return TryReadCopy(new MemoryStream(head, 0, read, writable: false), 1)
                ?? throw new GptFormatException(
                    "No valid primary GPT in the first 34 sectors: the header at LBA 1 is missing or fails its CRC check. Read the whole disk with GptDisk.Read to try the backup copy.");
        }
        catch (EndOfStreamException)
        {
            throw new GptFormatException(
                "The primary GPT's entry array reaches past LBA 33 (more than 128 entries, or the disk is shorter than a GPT). Read the whole disk with GptDisk.Read.");
        }
    }

    /// <summary>
    /// Sets the 64-bit attributes of one partition (for example an A/B state from
    /// <see cref="PartitionState.Encode"/>) in both copies. The backup is rewritten and flushed
    /// first, then the primary, so a power cut at any point leaves at least one valid copy
    /// that GRUB and <see cref="Read"/> accept.
    /// </summary>
    /// <exception cref="GptFormatException">No valid GPT, or no partition with that number.</exception>
    public static GptLayout UpdateAttributes(Stream disk, int partitionNumber, ulong attributes) =>
        UpdateAttributes(disk, new Dictionary<int, ulong> { [partitionNumber] = attributes });

    /// <summary>
    /// Sets the attributes of several partitions in one table rewrite, so they change together: an A/B commit
    /// (current → active, other → unused) is never seen half done, whatever point a power cut hits.
    /// </summary>
    /// <exception cref="GptFormatException">No valid GPT, or a partition number that does not exist.</exception>
    public static GptLayout UpdateAttributes(Stream disk, IReadOnlyDictionary<int, ulong> attributesByNumber)
    {
        var layout = Read(disk);
        foreach (var number in attributesByNumber.Keys)
        {
            if (layout.Find(number) is null)
                throw new GptFormatException($"Partition {number} does not exist on this disk; existing numbers: {string.Join(", ", layout.Partitions.Select(p => p.Number))}.");
        }
        var updated = layout with
        {
            Partitions = layout.Partitions.Select(p => attributesByNumber.TryGetValue(p.Number, out var a) ? p with { Attributes = a } : p).ToList(),
        };
        GptWriter.WriteTables(disk, updated);
        return updated;
    }

    /// <summary>
    /// After a disk image was written to a larger device (or the file grew), moves the backup
    /// header and entry array to the real end and extends the usable range, as
    /// <c>sgdisk -e</c> does. The new backup is written first, then the primary; the stale
    /// backup header is zeroed last so tools do not find two backups.
    /// Returns the layout unchanged when the backup is already at the end.
    /// </summary>
    public static GptLayout RelocateBackupToEnd(Stream disk)
    {
        var layout = Read(disk);
        long actualSize = disk.Length / GptLayout.SectorSize * GptLayout.SectorSize;
        if (actualSize == layout.DiskSizeBytes)
        {
            return layout;
        }
        if (actualSize < layout.DiskSizeBytes)
        {
            throw new GptFormatException($"The disk ({actualSize} bytes) is smaller than its GPT says ({layout.DiskSizeBytes} bytes); it was truncated and cannot be repaired by moving the backup.");
        }
        var grown = layout with { DiskSizeBytes = actualSize };
        GptCodec.Validate(grown);
        GptWriter.WriteTables(disk, grown);
        GptWriter.WriteAt(disk, 0, GptCodec.EncodeProtectiveMbr(grown));
        GptWriter.WriteAt(disk, layout.LastLba * GptLayout.SectorSize, new byte[GptLayout.SectorSize]);
        DiskFlush.ToStableStorage(disk);
        return grown;
    }

    private static GptLayout? TryReadCopy(Stream disk, long headerLba)
    {
        if (headerLba < 1 || (headerLba + 1) * GptLayout.SectorSize > disk.Length)
        {
            return null;
        }
        var sector = ReadAt(disk, headerLba * GptLayout.SectorSize, GptLayout.SectorSize);
        var header = GptCodec.DecodeHeader(sector);
        if (header is null || header.MyLba != headerLba || header.EntrySize < GptLayout.EntrySize || header.EntryCount > 1024)
        {
            return null;
        }
        var array = ReadAt(disk, header.EntriesLba * GptLayout.SectorSize, (int)(header.EntryCount * header.EntrySize));
        if (Crc32.Compute(array) != header.EntryArrayCrc)
        {
            return null;
        }
        long lastLba = headerLba == 1 ? header.AlternateLba : headerLba;
        return new GptLayout((lastLba + 1) * GptLayout.SectorSize, header.DiskGuid,
            GptCodec.DecodeEntries(array, header.EntryCount, header.EntrySize));
    }

    private static byte[] ReadAt(Stream disk, long offset, int count)
    {
        var buffer = new byte[count];
        disk.Position = offset;
        disk.ReadExactly(buffer);
        return buffer;
    }
}
