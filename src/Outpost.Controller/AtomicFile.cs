namespace Outpost.Controller;

/// <summary>Writes files so that a crash leaves either the old or the new content, never a torn file.</summary>
internal static class AtomicFile
{
    public static void WriteAllText(string path, string text, UnixFileMode mode)
    {
        var temp = path + ".tmp-" + Environment.ProcessId;
        using (var stream = new FileStream(temp, new FileStreamOptions
        {
            Mode = FileMode.Create,
            Access = FileAccess.Write,
            UnixCreateMode = mode,
        }))
        {
            using var writer = new StreamWriter(stream);
            writer.Write(text);
            writer.Flush();
            stream.Flush(flushToDisk: true);
        }

        File.SetUnixFileMode(temp, mode);
        File.Move(temp, path, overwrite: true);
    }
}
