namespace Outpost.Disk.Gpt;

/// <summary>Writes a protective MBR and both GPT copies for a <see cref="GptLayout"/>.</summary>
public static class GptWriter
{
    /// <summary>
    /// Writes the protective MBR (LBA 0), the primary header and entry array (LBA 1-33) and the
    /// backup entry array and header (last 33 sectors). Partition contents are not touched. The
    /// stream is extended to <see cref="GptLayout.DiskSizeBytes"/> when it is shorter. The
    /// backup is written before the primary so a crash never leaves the disk without a valid
    /// copy when an existing table is being replaced.
    /// </summary>
    /// <exception cref="GptFormatException">The layout is invalid.</exception>
    public static void Write(Stream disk, GptLayout layout)
    {
        GptCodec.Validate(layout);
        if (disk.Length < layout.DiskSizeBytes)
        {
            disk.SetLength(layout.DiskSizeBytes);
        }
        WriteTables(disk, layout);
        WriteAt(disk, 0, GptCodec.EncodeProtectiveMbr(layout));
        DiskFlush.ToStableStorage(disk);
    }

    /// <summary>Writes backup then primary tables, flushing between them.</summary>
    internal static void WriteTables(Stream disk, GptLayout layout)
    {
        var array = GptCodec.EncodeEntryArray(layout);
        uint arrayCrc = Crc32.Compute(array);
        long backupArrayLba = layout.LastLba - GptLayout.EntryArraySectors;
        WriteAt(disk, backupArrayLba * GptLayout.SectorSize, array);
        WriteAt(disk, layout.LastLba * GptLayout.SectorSize, GptCodec.EncodeHeader(layout, primary: false, arrayCrc));
        DiskFlush.ToStableStorage(disk);
        WriteAt(disk, 2L * GptLayout.SectorSize, array);
        WriteAt(disk, 1L * GptLayout.SectorSize, GptCodec.EncodeHeader(layout, primary: true, arrayCrc));
        DiskFlush.ToStableStorage(disk);
    }

    internal static void WriteAt(Stream disk, long offset, ReadOnlySpan<byte> data)
    {
        disk.Position = offset;
        disk.Write(data);
    }
}
