using System.Text;
using System.Text.Json;
using Org.Lfedge.Eve.Logs;

namespace Outpost.Api.Logs;

/// <summary>
/// The "newlogs" upload format of EVE's device API v2: each upload body is one gzip file whose lines are JSON
/// LogEntry objects. Device-log metadata rides in the gzip comment as {"devID","image","eveVersion"}; the app
/// display name of app logs rides in the gzip file name. EVE caps each file at 50,000 bytes.
/// </summary>
public static class NewLogsFormat
{
    /// <summary>EVE's maxGzipFileSize.</summary>
    public const int DefaultMaxFileBytes = 50_000;

    /// <summary>Appended to the content of an entry that had to be shortened to fit in one file.</summary>
    public const string TruncationMarker = " …[truncated to fit a newlogs file]";

    // Below this a file cannot hold the header, the trailer and a minimal entry.
    private const int MinimumMaxFileBytes = 512;

    /// <summary>
    /// Packs entries, in order, into as few gzip files as fit under <paramref name="maxFileBytes"/> each.
    /// An entry too big for a file of its own keeps its fields but has its content shortened and marked.
    /// </summary>
    public static IReadOnlyList<byte[]> Pack(
        IReadOnlyList<LogEntry> entries, NewLogsHeader header, DateTimeOffset modTime, int maxFileBytes = DefaultMaxFileBytes)
    {
        ArgumentNullException.ThrowIfNull(entries);
        ArgumentNullException.ThrowIfNull(header);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxFileBytes, MinimumMaxFileBytes);
        var gzipHeader = GzipMember.Header(ToGzipTime(modTime), NameField(header), CommentField(header));
        var packer = new FilePacker(gzipHeader, maxFileBytes);

        var lines = entries.Select(LogEntryJson.ToLine).ToArray();
        var files = new List<byte[]>();
        var start = 0;
        while (start < lines.Length)
        {
            var count = packer.LargestPrefixThatFits(lines.AsSpan(start));
            if (count == 0)
            {
                files.Add(packer.Build([TruncateToFit(entries[start], packer)]));
                start++;
                continue;
            }

            files.Add(packer.Build(lines.AsSpan(start, count).ToArray()));
            start += count;
        }

        return files;
    }

    /// <summary>Decodes one newlogs gzip file.</summary>
    public static NewLogsFile Unpack(ReadOnlySpan<byte> gzipFile)
    {
        var (modTime, name, comment, content) = GzipMember.Read(gzipFile);
        var header = ParseHeader(name, comment);
        var entries = new List<LogEntry>();
        ReadOnlyMemory<byte> memory = content;
        var lineNumber = 0;
        while (!memory.IsEmpty)
        {
            lineNumber++;
            var end = memory.Span.IndexOf((byte)'\n');
            var line = end < 0 ? memory : memory[..end];
            memory = end < 0 ? ReadOnlyMemory<byte>.Empty : memory[(end + 1)..];
            if (line.Span.Trim((byte)'\r').IsEmpty)
            {
                continue;
            }

            entries.Add(LogEntryJson.FromLine(line, lineNumber));
        }

        return new NewLogsFile(header, DateTimeOffset.FromUnixTimeSeconds(modTime), entries);
    }

    private static uint ToGzipTime(DateTimeOffset modTime)
    {
        var seconds = modTime.ToUnixTimeSeconds();
        if (seconds is < 0 or > uint.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(modTime), modTime,
                "gzip MTIME holds seconds since 1970 in 32 bits; use a time between 1970 and 2106.");
        }

        return (uint)seconds;
    }

    private static byte[]? NameField(NewLogsHeader header)
    {
        if (!header.IsAppLog)
        {
            return null;
        }

        if (!string.IsNullOrEmpty(header.DevId) || !string.IsNullOrEmpty(header.Image) || !string.IsNullOrEmpty(header.EveVersion))
        {
            throw new ArgumentException(
                "A newlogs file holds either device logs (DevId, Image, EveVersion) or one app's logs (AppName), not both.",
                nameof(header));
        }

        return Latin1Text.EncodeEscaped(header.AppName!);
    }

    private static byte[]? CommentField(NewLogsHeader header)
    {
        if (header.IsAppLog)
        {
            return null;
        }

        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            WriteIfSet(writer, "devID", header.DevId);
            WriteIfSet(writer, "image", header.Image);
            WriteIfSet(writer, "eveVersion", header.EveVersion);
            writer.WriteEndObject();
        }

        // JSON strings may carry \uXXXX, so escaping what Latin-1 cannot hold keeps the comment valid JSON.
        return Latin1Text.EncodeEscaped(Encoding.UTF8.GetString(buffer.ToArray()));
    }

    private static void WriteIfSet(Utf8JsonWriter writer, string name, string? value)
    {
        if (!string.IsNullOrEmpty(value))
        {
            writer.WriteString(name, value);
        }
    }

    private static NewLogsHeader ParseHeader(byte[]? name, byte[]? comment)
    {
        if (comment is null || comment.Length == 0)
        {
            return new NewLogsHeader(null, null, null, name is null ? null : Latin1Text.DecodeEscaped(name));
        }

        try
        {
            using var document = JsonDocument.Parse(Encoding.Latin1.GetString(comment));
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new NewLogsFormatException("gzip comment is not a JSON object of device-log metadata.");
            }

            return new NewLogsHeader(
                OptionalString(root, "devID"), OptionalString(root, "image"), OptionalString(root, "eveVersion"),
                name is null ? null : Latin1Text.DecodeEscaped(name));
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            throw new NewLogsFormatException($"gzip comment is not valid JSON device-log metadata: {e.Message}", e);
        }
    }

    private static string? OptionalString(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) ? value.GetString() : null;

    /// <summary>Shortens the content until the entry alone fits in a file; never drops the entry.</summary>
    private static byte[] TruncateToFit(LogEntry entry, FilePacker packer)
    {
        var shortened = entry.Clone();
        shortened.Content = TruncationMarker;
        var withoutContent = LogEntryJson.ToLine(shortened);
        if (!packer.Fits([withoutContent]))
        {
            throw new ArgumentException(
                $"Log entry msgid {entry.Msgid} does not fit in {packer.MaxFileBytes} bytes even without its content; " +
                "its tags, source or other fields are too large.", nameof(entry));
        }

        // Binary search the longest content prefix that still fits.
        var original = entry.Content;
        var low = 0;
        var high = original.Length;
        var best = withoutContent;
        while (low < high)
        {
            var middle = low + ((high - low + 1) / 2);
            shortened.Content = SafePrefix(original, middle) + TruncationMarker;
            var candidate = LogEntryJson.ToLine(shortened);
            if (packer.Fits([candidate]))
            {
                best = candidate;
                low = middle;
            }
            else
            {
                high = middle - 1;
            }
        }

        return best;
    }

    // Never cut a surrogate pair in half; the writer would refuse the lone surrogate.
    private static string SafePrefix(string text, int length) =>
        length > 0 && length < text.Length && char.IsHighSurrogate(text[length - 1]) ? text[..(length - 1)] : text[..length];

    /// <summary>Builds gzip files with one fixed header and measures whether a set of lines fits under the cap.</summary>
    private sealed class FilePacker(byte[] gzipHeader, int maxFileBytes)
    {
        public int MaxFileBytes => maxFileBytes;

        public bool Fits(byte[][] lines) =>
            gzipHeader.Length + GzipMember.TrailerLength + GzipMember.Deflate(lines).Length <= maxFileBytes;

        public byte[] Build(byte[][] lines)
        {
            var deflated = GzipMember.Deflate(lines);
            var crc = 0u;
            long length = 0;
            foreach (var line in lines)
            {
                crc = Crc32.Append(crc, line);
                length += line.Length;
            }

            return GzipMember.Assemble(gzipHeader, deflated, crc, length);
        }

        /// <summary>
        /// How many leading lines fit in one file (0 if not even the first). Grows the candidate count
        /// exponentially and then bisects, so each file costs O(log n) compressions instead of n.
        /// </summary>
        public int LargestPrefixThatFits(ReadOnlySpan<byte[]> lines)
        {
            if (!Fits([lines[0]]))
            {
                return 0;
            }

            var good = 1;
            var bad = -1;
            while (bad < 0)
            {
                var next = Math.Min(good * 2, lines.Length);
                if (next == good)
                {
                    return good;
                }

                if (Fits(lines[..next].ToArray()))
                {
                    good = next;
                }
                else
                {
                    bad = next;
                }
            }

            while (bad - good > 1)
            {
                var middle = good + ((bad - good) / 2);
                if (Fits(lines[..middle].ToArray()))
                {
                    good = middle;
                }
                else
                {
                    bad = middle;
                }
            }

            return good;
        }
    }
}
