using System.IO.Compression;
using System.Text;
using Google.Protobuf.WellKnownTypes;
using Org.Lfedge.Eve.Logs;
using Outpost.Api.Logs;
using Outpost.Api.Tests.Support;

namespace Outpost.Api.Tests.Logs;

public sealed class NewLogsFormatTests
{
    private static readonly DateTimeOffset ModTime = new(2025, 3, 4, 5, 6, 7, TimeSpan.Zero);
    private static readonly NewLogsHeader DeviceHeader = new("6c4f3b0e-0000-4000-8000-000000000001", "IMGA", "14.5.1-kvm-amd64", null);

    [Fact]
    public void Device_logs_round_trip_with_header_mtime_and_every_field()
    {
        LogEntry[] entries = [FullEntry(1), FullEntry(2), new LogEntry { Content = "only content", Msgid = 3 }];

        var files = NewLogsFormat.Pack(entries, DeviceHeader, ModTime);

        var file = Assert.Single(files);
        var unpacked = NewLogsFormat.Unpack(file);
        Assert.Equal(DeviceHeader, unpacked.Header);
        Assert.Equal(ModTime, unpacked.ModTime);
        Assert.Equal(entries, unpacked.Entries);
    }

    [Fact]
    public void Entry_is_one_go_style_json_line_with_empty_fields_omitted()
    {
        var entry = new LogEntry
        {
            Severity = "info",
            Source = "zedagent",
            Iid = "1234",
            Content = "hello <world> & \"you\" é",
            Msgid = 7,
            Tags = { ["b"] = "2", ["a"] = "1" },
            Timestamp = new Timestamp { Seconds = 1_700_000_000, Nanos = 5 },
            Filename = "handleconfig.go:10",
            Function = "main.run",
        };
        var sparse = new LogEntry { Content = "x", Timestamp = new Timestamp { Seconds = 9 } };

        var text = Encoding.UTF8.GetString(Decompress(NewLogsFormat.Pack([entry, sparse], DeviceHeader, ModTime)[0]));

        Assert.Equal(
            "{\"severity\":\"info\",\"source\":\"zedagent\",\"iid\":\"1234\",\"content\":\"hello <world> & \\\"you\\\" é\",\"msgid\":7," +
            "\"tags\":{\"a\":\"1\",\"b\":\"2\"},\"timestamp\":{\"seconds\":1700000000,\"nanos\":5}," +
            "\"filename\":\"handleconfig.go:10\",\"function\":\"main.run\"}\n" +
            "{\"content\":\"x\",\"timestamp\":{\"seconds\":9}}\n",
            text);
    }

    [Fact]
    public void Device_header_comment_is_exact_json_and_omits_empty_fields()
    {
        var full = NewLogsFormat.Pack([FullEntry(1)], DeviceHeader, ModTime)[0];
        var partial = NewLogsFormat.Pack([FullEntry(1)], new NewLogsHeader("dev-1", null, "", null), ModTime)[0];

        Assert.Equal(0x10, full[3]);
        Assert.Equal(
            "{\"devID\":\"6c4f3b0e-0000-4000-8000-000000000001\",\"image\":\"IMGA\",\"eveVersion\":\"14.5.1-kvm-amd64\"}",
            ZeroTerminatedAt(full, 10));
        Assert.Equal("{\"devID\":\"dev-1\"}", ZeroTerminatedAt(partial, 10));
        Assert.Equal((uint)ModTime.ToUnixTimeSeconds(), BitConverter.ToUInt32(full, 4));
    }

    [Fact]
    public void App_name_goes_in_the_file_name_with_non_latin1_escaped()
    {
        var header = new NewLogsHeader(null, null, null, "caméra-✓-日本");

        var file = NewLogsFormat.Pack([FullEntry(1)], header, ModTime)[0];

        Assert.Equal(0x08, file[3]);
        Assert.Equal("caméra-\\u2713-\\u65E5\\u672C", ZeroTerminatedAt(file, 10));
        var unpacked = NewLogsFormat.Unpack(file);
        Assert.Equal(header, unpacked.Header);
        Assert.True(unpacked.Header.IsAppLog);
    }

    [Fact]
    public void Header_with_both_device_and_app_fields_is_refused()
    {
        var error = Assert.Throws<ArgumentException>(() =>
            NewLogsFormat.Pack([FullEntry(1)], new NewLogsHeader("dev", null, null, "app"), ModTime));

        Assert.Contains("either device logs", error.Message);
    }

    [Fact]
    public void Many_entries_are_split_into_files_under_the_cap_in_order()
    {
        var random = new Random(1234);
        var entries = Enumerable.Range(1, 4000).Select(i => new LogEntry
        {
            Severity = i % 7 == 0 ? "error" : "info",
            Source = "pillar",
            Content = $"event {i} " + Convert.ToHexString(RandomBytes(random, 40)),
            Msgid = (ulong)i,
            Timestamp = new Timestamp { Seconds = 1_700_000_000 + i, Nanos = i },
        }).ToArray();

        var files = NewLogsFormat.Pack(entries, DeviceHeader, ModTime);

        Assert.True(files.Count > 2, $"expected the batch to need several files, got {files.Count}");
        Assert.All(files, file => Assert.True(file.Length <= NewLogsFormat.DefaultMaxFileBytes, $"file of {file.Length} bytes exceeds the cap"));
        Assert.Equal(entries, files.SelectMany(file => NewLogsFormat.Unpack(file).Entries));
        // Files are filled, not just kept small: all but the last are near the cap.
        Assert.All(files.Take(files.Count - 1), file => Assert.True(file.Length > NewLogsFormat.DefaultMaxFileBytes * 9 / 10,
            $"file of {file.Length} bytes is far below the cap"));
    }

    [Fact]
    public void An_entry_larger_than_the_cap_alone_is_truncated_with_a_marker_not_dropped()
    {
        var random = new Random(99);
        var huge = Convert.ToBase64String(RandomBytes(random, 120_000));
        LogEntry[] entries = [FullEntry(1), new LogEntry { Source = "app", Content = huge, Msgid = 2 }, FullEntry(3)];

        var files = NewLogsFormat.Pack(entries, DeviceHeader, ModTime);

        Assert.All(files, file => Assert.True(file.Length <= NewLogsFormat.DefaultMaxFileBytes, $"file of {file.Length} bytes exceeds the cap"));
        var unpacked = files.SelectMany(file => NewLogsFormat.Unpack(file).Entries).ToArray();
        Assert.Equal([1UL, 2UL, 3UL], unpacked.Select(entry => entry.Msgid));
        var truncated = unpacked[1];
        Assert.EndsWith(NewLogsFormat.TruncationMarker, truncated.Content);
        var kept = truncated.Content[..^NewLogsFormat.TruncationMarker.Length];
        Assert.StartsWith(kept, huge);
        Assert.True(kept.Length > 20_000, $"only {kept.Length} characters of content were kept");
        Assert.Equal("app", truncated.Source);
    }

    [Fact]
    public void No_entries_make_no_files()
    {
        Assert.Empty(NewLogsFormat.Pack([], DeviceHeader, ModTime));
    }

    [Fact]
    public void Debian_gzip_tests_and_decompresses_our_files()
    {
        using var directory = new TempDirectory();
        var random = new Random(7);
        var entries = Enumerable.Range(1, 1500).Select(i =>
        {
            var entry = FullEntry(i);
            entry.Content += " " + Convert.ToHexString(RandomBytes(random, 24));
            return entry;
        }).ToArray();
        var files = NewLogsFormat.Pack(entries, DeviceHeader, ModTime, maxFileBytes: 20_000);
        Assert.True(files.Count > 1, "the batch should need several files");

        var decompressed = new StringBuilder();
        for (var i = 0; i < files.Count; i++)
        {
            var path = directory.File($"dev.log.{i}.gz");
            File.WriteAllBytes(path, files[i]);
            ExternalTool.RunChecked(directory.Path, "gzip", "-t", path);
            decompressed.Append(ExternalTool.RunChecked(directory.Path, "gzip", "-dc", path).StandardOutputText);
        }

        var expected = string.Concat(files.Select(file => Encoding.UTF8.GetString(Decompress(file))));
        Assert.Equal(expected, decompressed.ToString());
        Assert.Equal(entries.Length, decompressed.ToString().Count(c => c == '\n'));
    }

    [Fact]
    public void Debian_gzip_reports_our_mtime_and_app_name()
    {
        using var directory = new TempDirectory();
        var path = directory.File("app.gz");
        File.WriteAllBytes(path, NewLogsFormat.Pack([FullEntry(1)], new NewLogsHeader(null, null, null, "web-frontend"), ModTime)[0]);

        var listing = ExternalTool.RunChecked(directory.Path, "gzip", "-l", "-N", "-v", path).StandardOutputText;

        Assert.Contains("web-frontend", listing);
    }

    [Fact]
    public void File_made_by_debian_gzip_unpacks_with_its_name_and_entries()
    {
        using var directory = new TempDirectory();
        var lines = Encoding.UTF8.GetString(Decompress(NewLogsFormat.Pack([FullEntry(1), FullEntry(2)], DeviceHeader, ModTime)[0]));
        var path = directory.File("sensor-app");
        File.WriteAllText(path, lines);

        var gzipped = ExternalTool.RunChecked(directory.Path, "gzip", "-9", "-N", "-c", path).StandardOutput;
        var unpacked = NewLogsFormat.Unpack(gzipped);

        Assert.Equal("sensor-app", unpacked.Header.AppName);
        Assert.Equal([FullEntry(1), FullEntry(2)], unpacked.Entries);
    }

    [Fact]
    public void Corrupted_crc_is_refused()
    {
        var file = NewLogsFormat.Pack([FullEntry(1)], DeviceHeader, ModTime)[0];
        file[^8] ^= 0xFF;

        var error = Assert.Throws<NewLogsFormatException>(() => NewLogsFormat.Unpack(file));

        Assert.Contains("CRC", error.Message);
    }

    [Fact]
    public void Corrupted_deflate_body_is_refused()
    {
        var file = NewLogsFormat.Pack(Enumerable.Range(1, 50).Select(FullEntry).ToArray(), DeviceHeader, ModTime)[0];
        var bodyStart = Array.IndexOf(file, (byte)0, 10) + 1;
        for (var i = bodyStart; i < bodyStart + 16; i++)
        {
            file[i] = 0xFF;
        }

        Assert.Throws<NewLogsFormatException>(() => NewLogsFormat.Unpack(file));
    }

    [Fact]
    public void Bytes_that_are_not_gzip_are_refused()
    {
        var error = Assert.Throws<NewLogsFormatException>(() => NewLogsFormat.Unpack(Encoding.UTF8.GetBytes("{\"content\":\"plain\"}\n....")));

        Assert.Contains("magic", error.Message);
    }

    [Fact]
    public void Gzip_of_lines_that_are_not_json_is_refused_with_the_line_number()
    {
        using var directory = new TempDirectory();
        var path = directory.File("bad");
        File.WriteAllText(path, "{\"content\":\"fine\"}\nnot json at all\n");
        var gzipped = ExternalTool.RunChecked(directory.Path, "gzip", "-c", path).StandardOutput;

        var error = Assert.Throws<NewLogsFormatException>(() => NewLogsFormat.Unpack(gzipped));

        Assert.Contains("line 2", error.Message);
    }

    private static LogEntry FullEntry(int i) => new()
    {
        Severity = "warning",
        Source = "nodeagent",
        Iid = "42",
        Content = $"message number {i} with unicode ✓",
        Msgid = (ulong)i,
        Tags = { ["pid"] = "42", ["file"] = "x.go" },
        Timestamp = new Timestamp { Seconds = 1_700_000_000 + i, Nanos = 123_000 },
        Filename = "nodeagent.go:77",
        Function = "handleTimers",
    };

    private static byte[] RandomBytes(Random random, int count)
    {
        var bytes = new byte[count];
        random.NextBytes(bytes);
        return bytes;
    }

    /// <summary>Decompresses with .NET's own GZipStream, independent of our reader.</summary>
    private static byte[] Decompress(byte[] gzip)
    {
        using var input = new GZipStream(new MemoryStream(gzip), CompressionMode.Decompress);
        using var output = new MemoryStream();
        input.CopyTo(output);
        return output.ToArray();
    }

    private static string ZeroTerminatedAt(byte[] file, int offset)
    {
        var end = Array.IndexOf(file, (byte)0, offset);
        return Encoding.Latin1.GetString(file, offset, end - offset);
    }
}
