namespace Outpost.Disk;

/// <summary>Flushes a stream all the way to stable storage when it is a file.</summary>
internal static class DiskFlush
{
    public static void ToStableStorage(Stream stream)
    {
        if (stream is DiskStream disk)
        {
            disk.FlushToDisk();
        }
        else if (stream is FileStream file)
        {
            // Flush(true) calls fsync: without it a power cut can lose data the OS still buffers.
            file.Flush(flushToDisk: true);
        }
        else
        {
            stream.Flush();
        }
    }
}
