using System.Globalization;
using Outpost.Agent.Persistence;

namespace Outpost.Agent.Logging;

/// <summary>
/// Hands out msgid values that keep increasing across restarts. Writing the counter for every line would cost
/// an fsync per log line, so ids are reserved in blocks: the file holds the end of the current block, and a
/// crash merely skips the unused rest of it, never reusing an id.
/// </summary>
public sealed class LogMessageIds
{
    private const ulong BlockSize = 1000;
    private readonly Lock _gate = new();
    private readonly string _path;
    private ulong _next;
    private ulong _reservedUpTo;

    public LogMessageIds(string path)
    {
        _path = path;
        var text = AtomicFile.TryReadText(path);
        _next = text is not null && ulong.TryParse(text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var saved) ? saved : 1;
        _reservedUpTo = _next;
    }

    public ulong Next()
    {
        lock (_gate)
        {
            if (_next >= _reservedUpTo && TrySave(_next + BlockSize))
            {
                _reservedUpTo = _next + BlockSize;
            }

            return _next++;
        }
    }

    /// <summary>Records the exact next id at a clean shutdown so the following run continues without a gap.</summary>
    public void SaveExact()
    {
        lock (_gate)
        {
            if (TrySave(_next))
            {
                _reservedUpTo = _next;
            }
        }
    }

    /// <summary>
    /// Writes the counter; false when the disk refuses (full or failing). Logging goes on regardless: the next line
    /// tries again, and the lines those ids belong to could not be journaled on that disk either.
    /// </summary>
    private bool TrySave(ulong value)
    {
        try
        {
            AtomicFile.WriteText(_path, value.ToString(CultureInfo.InvariantCulture) + "\n");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}
