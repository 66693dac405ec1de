using System.Text.Encodings.Web;
using System.Text.Json;
using Google.Protobuf.WellKnownTypes;
using Org.Lfedge.Eve.Logs;

namespace Outpost.Api.Logs;

/// <summary>
/// One LogEntry as one JSON line, shaped like Go's encoding/json output of EVE's generated struct: keys in field
/// order, empty fields omitted, the timestamp as {"seconds":N,"nanos":N} rather than protojson's RFC 3339 string.
/// </summary>
internal static class LogEntryJson
{
    // Non-ASCII stays readable UTF-8 like Go's encoder; escaping then differs from Go only in
    // which ASCII punctuation is escaped, which no JSON reader cares about.
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static byte[] ToLine(LogEntry entry)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            writer.WriteStartObject();
            WriteIfSet(writer, "severity", entry.Severity);
            WriteIfSet(writer, "source", entry.Source);
            WriteIfSet(writer, "iid", entry.Iid);
            WriteIfSet(writer, "content", entry.Content);
            if (entry.Msgid != 0)
            {
                writer.WriteNumber("msgid", entry.Msgid);
            }

            if (entry.Tags.Count > 0)
            {
                writer.WriteStartObject("tags");
                // Go sorts map keys when encoding; do the same so equal entries give equal bytes.
                foreach (var (key, value) in entry.Tags.OrderBy(tag => tag.Key, StringComparer.Ordinal))
                {
                    writer.WriteString(key, value);
                }

                writer.WriteEndObject();
            }

            if (entry.Timestamp is { } timestamp)
            {
                writer.WriteStartObject("timestamp");
                if (timestamp.Seconds != 0)
                {
                    writer.WriteNumber("seconds", timestamp.Seconds);
                }

                if (timestamp.Nanos != 0)
                {
                    writer.WriteNumber("nanos", timestamp.Nanos);
                }

                writer.WriteEndObject();
            }

            WriteIfSet(writer, "filename", entry.Filename);
            WriteIfSet(writer, "function", entry.Function);
            writer.WriteEndObject();
        }

        var line = new byte[buffer.WrittenCount + 1];
        buffer.WrittenSpan.CopyTo(line);
        line[^1] = (byte)'\n';
        return line;
    }

    public static LogEntry FromLine(ReadOnlyMemory<byte> line, int lineNumber)
    {
        try
        {
            using var document = JsonDocument.Parse(line);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new NewLogsFormatException($"Log line {lineNumber} is not a JSON object.");
            }

            var entry = new LogEntry();
            foreach (var property in document.RootElement.EnumerateObject())
            {
                ReadProperty(entry, property);
            }

            return entry;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw new NewLogsFormatException($"Log line {lineNumber} is not a valid JSON log entry: {e.Message}", e);
        }
    }

    private static void ReadProperty(LogEntry entry, JsonProperty property)
    {
        var value = property.Value;
        switch (property.Name)
        {
            case "severity": entry.Severity = value.GetString() ?? ""; break;
            case "source": entry.Source = value.GetString() ?? ""; break;
            case "iid": entry.Iid = value.ValueKind == JsonValueKind.Number ? value.GetRawText() : value.GetString() ?? ""; break;
            case "content": entry.Content = value.GetString() ?? ""; break;
            case "msgid": entry.Msgid = value.GetUInt64(); break;
            case "filename": entry.Filename = value.GetString() ?? ""; break;
            case "function": entry.Function = value.GetString() ?? ""; break;
            case "tags":
                if (value.ValueKind == JsonValueKind.Object)
                {
                    foreach (var tag in value.EnumerateObject())
                    {
                        entry.Tags[tag.Name] = tag.Value.GetString() ?? "";
                    }
                }

                break;
            case "timestamp":
                if (value.ValueKind == JsonValueKind.Object)
                {
                    entry.Timestamp = new Timestamp
                    {
                        Seconds = value.TryGetProperty("seconds", out var seconds) ? seconds.GetInt64() : 0,
                        Nanos = value.TryGetProperty("nanos", out var nanos) ? nanos.GetInt32() : 0,
                    };
                }

                break;
            default:
                // Newer EVE releases may add keys; ignoring them keeps old controllers working.
                break;
        }
    }

    private static void WriteIfSet(Utf8JsonWriter writer, string name, string value)
    {
        if (value.Length > 0)
        {
            writer.WriteString(name, value);
        }
    }
}
