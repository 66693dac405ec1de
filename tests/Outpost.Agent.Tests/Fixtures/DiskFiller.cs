namespace Outpost.Agent.Tests.Fixtures;

/// <summary>Fills a file system from outside, as another process (or a runaway log) would.</summary>
public static class DiskFiller
{
    /// <summary>Writes zeros into <paramref name="path"/> until the file system says it is full.</summary>
    public static void Fill(string path)
    {
        var chunk = new byte[64 * 1024];
        using var file = File.OpenHandle(path, FileMode.Create, FileAccess.Write);
        long offset = 0;
        try
        {
            while (true)
            {
                RandomAccess.Write(file, chunk, offset);
                offset += chunk.Length;
            }
        }
        catch (IOException)
        {
            // Full.
        }
    }
}
