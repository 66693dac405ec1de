using System.Text;

namespace Outpost.Agent.Persistence;

/// <summary>
/// Writes files so that a crash or power loss leaves either the old or the new content, never a torn mix:
/// write a temporary sibling, fsync it, rename it over the target, then fsync the directory so the rename
/// itself is durable. Everything in the state directory is the agent's alone: files are created 0600 and
/// directories 0700 unless a caller asks for more (a certificate may be world-readable).
/// </summary>
public static class AtomicFile
{
    public const UnixFileMode PrivateFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    public const UnixFileMode PrivateDirectory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    public static void Write(string path, ReadOnlySpan<byte> content, UnixFileMode mode = PrivateFile)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        CreatePrivateDirectory(directory);
        var temporary = Path.Combine(directory, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
        try
        {
            // Created with the final mode so a secret is never readable by others, not even briefly.
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None, UnixCreateMode = mode };

            using (var stream = new FileStream(temporary, options))
            {
                stream.Write(content);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temporary, path, overwrite: true);
            FlushDirectory(directory);
        }
        catch
        {
            TryDelete(temporary);
            throw;
        }
    }

    /// <summary>
    /// As <see cref="Write"/>, for content produced by <paramref name="writeContent"/> into a stream (too large, or
    /// built piece by piece): the target gets all of it or keeps what it had.
    /// </summary>
    public static async Task WriteAsync(string path, Func<Stream, CancellationToken, Task> writeContent, CancellationToken cancellationToken, UnixFileMode mode = PrivateFile)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        CreatePrivateDirectory(directory);
        var temporary = Path.Combine(directory, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
        try
        {
            var options = new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                Share = FileShare.None,
                Options = FileOptions.Asynchronous,
                UnixCreateMode = mode,
            };
            await using (var stream = new FileStream(temporary, options))
            {
                await writeContent(stream, cancellationToken).ConfigureAwait(false);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temporary, path, overwrite: true);
            FlushDirectory(directory);
        }
        catch
        {
            TryDelete(temporary);
            throw;
        }
    }

    public static void WriteText(string path, string text, UnixFileMode mode = PrivateFile) =>
        Write(path, Encoding.UTF8.GetBytes(text), mode);

    /// <summary>Creates a directory (and missing parents) readable by the agent only.</summary>
    public static DirectoryInfo CreatePrivateDirectory(string path) => Directory.CreateDirectory(path, PrivateDirectory);

    /// <summary>Reads a file, or null when it does not exist.</summary>
    public static byte[]? TryRead(string path)
    {
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    public static string? TryReadText(string path) => TryRead(path) is { } bytes ? Encoding.UTF8.GetString(bytes) : null;

    /// <summary>Deletes leftovers of writes that a crash interrupted.</summary>
    public static void RemoveTemporaryFiles(string directory)
    {
        if (!Directory.Exists(directory))
        {
            return;
        }

        foreach (var leftover in Directory.EnumerateFiles(directory, ".*.tmp"))
        {
            TryDelete(leftover);
        }
    }

    private static void FlushDirectory(string directory)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        try
        {
            using var handle = File.OpenHandle(directory, FileMode.Open, FileAccess.Read);
            RandomAccess.FlushToDisk(handle);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Some file systems refuse to open or sync a directory; the rename is still atomic there.
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
    }
}
