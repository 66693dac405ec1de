using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using CsCheck;
using Outpost.Agent.Tests.Fixtures;
using Outpost.Agent.Workloads;
using Outpost.Agent.Workloads.Qemu;

namespace Outpost.Agent.Tests.Workloads.Qemu;

/// <summary>
/// The NoCloud seed checked by tools that share no code with ours: dosfstools' fsck.vfat, mtools (mlabel, mdir,
/// mtype), util-linux' blkid and, for meta-data, PyYAML (what cloud-init parses it with) when python3-yaml is there.
/// </summary>
public sealed class NoCloudSeedTests : IDisposable
{
    private const string AppUuid = "6ba7b810-9dad-41d1-80b4-00c04fd430c8";

    // Characters that mean something to YAML or end a line, for the hostile cases and the property.
    private const string HostileAlphabet = "\"\\\n\r\t :#'-{}[],&*!|>%@`?~\0\u0085\u2028\u2029\uFEFFab\u00e9\u4e2d";

    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private static NoCloudSeedContent Sample(byte[]? userData = null, string? networkConfig = null) =>
        new(AppUuid, "web-01", userData ?? "#cloud-config\npassword: hunter2\n"u8.ToArray(), networkConfig);

    private async Task<string> WriteSeedAsync(NoCloudSeedContent content, string? name = null)
    {
        var path = System.IO.Path.Combine(_temp.Path, name ?? $"seed-{Guid.NewGuid():N}.img");
        await NoCloudSeed.WriteAsync(path, content, CancellationToken.None);
        return path;
    }

    [Fact]
    public async Task The_seed_is_a_clean_vfat_volume_labelled_CIDATA()
    {
        var image = await WriteSeedAsync(Sample());

        var fsck = await RunAsync("fsck.vfat", "-n", "-v", image);
        Assert.True(fsck.ExitCode == 0, $"fsck.vfat -n should find the seed clean:\n{fsck.Text}");

        var mlabel = await RunAsync("mlabel", "-i", image, "-s", "::");
        Assert.True(mlabel.ExitCode == 0, mlabel.Text);
        Assert.Equal("Volume label is CIDATA", mlabel.Text.Trim());

        var blkid = await RunAsync("blkid", "-p", image);
        Assert.True(blkid.ExitCode == 0, blkid.Text);
        Assert.Contains("LABEL=\"CIDATA\"", blkid.Text);
        Assert.Contains("TYPE=\"vfat\"", blkid.Text);
        Assert.Contains("VERSION=\"FAT12\"", blkid.Text);
        Assert.Equal(1024 * 1024, new FileInfo(image).Length);
    }

    [Fact]
    public async Task Every_file_reads_back_with_mtype_exactly_as_given_binary_user_data_too()
    {
        var userData = GzipMultipart();
        var networkConfig = "version: 2\nethernets:\n  eth0:\n    match: {macaddress: \"02:00:00:00:00:01\"}\n    dhcp4: true\n# ünïcödé\n";
        var content = Sample(userData, networkConfig);
        var image = await WriteSeedAsync(content);

        Assert.Equal(userData, await ReadFileAsync(image, "user-data"));
        Assert.Equal(Encoding.ASCII.GetBytes(NoCloudSeed.MetaData(content)), await ReadFileAsync(image, "meta-data"));
        Assert.Equal(Encoding.UTF8.GetBytes(networkConfig), await ReadFileAsync(image, "network-config"));
    }

    [Fact]
    public async Task Network_config_is_on_the_volume_only_when_given()
    {
        Assert.Equal(["meta-data", "user-data"], await ListAsync(await WriteSeedAsync(Sample())));
        Assert.Equal(["meta-data", "network-config", "user-data"], await ListAsync(await WriteSeedAsync(Sample(networkConfig: "version: 2\n"))));

        // Given but empty is still given: an empty file, not a missing one.
        var empty = await WriteSeedAsync(Sample(networkConfig: ""));
        Assert.Equal(["meta-data", "network-config", "user-data"], await ListAsync(empty));
        Assert.Empty(await ReadFileAsync(empty, "network-config"));
    }

    [Fact]
    public async Task Empty_user_data_gives_an_empty_user_data_file()
    {
        var image = await WriteSeedAsync(Sample(userData: []));

        Assert.Empty(await ReadFileAsync(image, "user-data"));
        var fsck = await RunAsync("fsck.vfat", "-n", image);
        Assert.True(fsck.ExitCode == 0, fsck.Text);
    }

    [Fact]
    public async Task The_same_content_gives_the_same_bytes()
    {
        var first = await WriteSeedAsync(Sample(GzipMultipart(), "version: 2\n"), "first.img");
        await Task.Delay(2100); // past the 2-second resolution of FAT timestamps, so a clock-based stamp would show
        var second = await WriteSeedAsync(Sample(GzipMultipart(), "version: 2\n"), "second.img");

        Assert.Equal(await File.ReadAllBytesAsync(first), await File.ReadAllBytesAsync(second));
    }

    [Fact]
    public async Task Different_content_gives_different_bytes_and_a_different_volume_serial()
    {
        var userData = "#cloud-config\n"u8.ToArray();
        var changedByte = userData.ToArray();
        changedByte[^2] ^= 1;
        NoCloudSeedContent[] variants =
        [
            new(AppUuid, "web-01", userData, null),
            new(AppUuid, "web-01", changedByte, null),
            new(AppUuid, "web-02", userData, null),
            new("6ba7b810-9dad-41d1-80b4-00c04fd430c9", "web-01", userData, null),
            new(AppUuid, "web-01", userData, ""),
            new(AppUuid, "web-01", userData, "version: 2\n"),
        ];

        var images = new List<byte[]>();
        var serials = new List<string>();
        foreach (var variant in variants)
        {
            var image = await WriteSeedAsync(variant);
            images.Add(await File.ReadAllBytesAsync(image));
            var blkid = await RunAsync("blkid", "-p", "-s", "UUID", "-o", "value", image);
            Assert.True(blkid.ExitCode == 0, blkid.Text);
            serials.Add(blkid.Text.Trim());
        }

        for (int i = 0; i < images.Count; i++)
        {
            for (int j = i + 1; j < images.Count; j++)
            {
                Assert.False(images[i].AsSpan().SequenceEqual(images[j]), $"variants {i} and {j} gave the same image");
            }
        }
        Assert.Equal(serials.Count, serials.Distinct().Count());
        Assert.All(serials, s => Assert.Matches("^[0-9A-F]{4}-[0-9A-F]{4}$", s));
    }

    [Fact]
    public async Task User_data_over_the_cap_is_refused_with_a_message_that_says_the_limit()
    {
        var directory = _temp.Sub("over");
        var path = System.IO.Path.Combine(directory, "seed.img");

        var error = await Assert.ThrowsAsync<WorkloadSpecException>(() =>
            NoCloudSeed.WriteAsync(path, Sample(new byte[NoCloudSeed.MaxUserDataBytes + 1]), CancellationToken.None));

        Assert.Contains($"{NoCloudSeed.MaxUserDataBytes + 1} bytes", error.Message);
        Assert.Contains("16 MiB", error.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(directory));
    }

    [Fact]
    public async Task User_data_of_exactly_the_cap_fits_and_the_seed_stays_FAT16()
    {
        var userData = new byte[NoCloudSeed.MaxUserDataBytes];
        new Random(7).NextBytes(userData);
        var image = await WriteSeedAsync(Sample(userData, "version: 2\n"));

        var fsck = await RunAsync("fsck.vfat", "-n", image);
        Assert.True(fsck.ExitCode == 0, fsck.Text);
        Assert.Contains("VERSION=\"FAT16\"", (await RunAsync("blkid", "-p", image)).Text);
        Assert.Equal(userData, await ReadFileAsync(image, "user-data"));
        Assert.Equal(17 * 1024 * 1024, new FileInfo(image).Length);
    }

    /// <summary>
    /// Every image size a seed can have (1 to 17 MiB, across the FAT12/FAT16 boundary near 8 MiB), each filled as
    /// tightly as the size allows: the most user-data that still gets that size. Each the writer accepts and fsck finds clean.
    /// </summary>
    [Fact]
    public async Task Every_image_size_a_seed_can_have_holds_its_fullest_content_cleanly()
    {
        const long MiB = 1024 * 1024;
        long maxSize = NoCloudSeed.ImageSize(Sample(new byte[NoCloudSeed.MaxUserDataBytes]));
        Assert.Equal(17 * MiB, maxSize);
        for (long size = MiB; size <= maxSize; size += MiB)
        {
            int length = FullestUserData(size);
            var content = Sample(new byte[length]);
            Assert.Equal(size, NoCloudSeed.ImageSize(content));
            string image;
            try
            {
                image = await WriteSeedAsync(content);
            }
            catch (Exception e)
            {
                throw new Xunit.Sdk.XunitException($"a {size / MiB} MiB seed with {length} bytes of user-data (image size {NoCloudSeed.ImageSize(content)}) could not be written: {e.Message}");
            }
            var fsck = await RunAsync("fsck.vfat", "-n", image);
            Assert.True(fsck.ExitCode == 0, $"a {size / MiB} MiB seed with {length} bytes of user-data: {fsck.Text}");
            Assert.Equal(size, new FileInfo(image).Length);
            File.Delete(image);
        }
    }

    /// <summary>The longest user-data whose seed is at most <paramref name="size"/> bytes (binary search; the size grows with the length).</summary>
    private static int FullestUserData(long size)
    {
        int low = 0, high = NoCloudSeed.MaxUserDataBytes;
        while (low < high)
        {
            int middle = low + (high - low + 1) / 2;
            if (NoCloudSeed.ImageSize(Sample(new byte[middle])) <= size)
            {
                low = middle;
            }
            else
            {
                high = middle - 1;
            }
        }
        return low;
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    public async Task An_empty_instance_id_is_refused(string instanceId)
    {
        var content = Sample() with { InstanceId = instanceId };
        var path = System.IO.Path.Combine(_temp.Path, "seed.img");

        Assert.Contains("instance-id", Assert.Throws<WorkloadSpecException>(() => NoCloudSeed.MetaData(content)).Message);
        await Assert.ThrowsAsync<WorkloadSpecException>(() => NoCloudSeed.WriteAsync(path, content, CancellationToken.None));
        Assert.False(File.Exists(path));
    }

    [Fact]
    public async Task The_seed_is_0600_even_when_it_replaces_a_world_readable_file_and_leaves_no_temporary()
    {
        var directory = _temp.Sub("apps");
        var path = System.IO.Path.Combine(directory, "seed.img");
        await File.WriteAllTextAsync(path, "old");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        await NoCloudSeed.WriteAsync(path, Sample(), CancellationToken.None);

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        Assert.Equal(1024 * 1024, new FileInfo(path).Length);
        Assert.Equal([path], Directory.GetFiles(directory));
    }

    [Fact]
    public async Task A_cancelled_write_leaves_nothing_behind()
    {
        var directory = _temp.Sub("cancelled");
        var path = System.IO.Path.Combine(directory, "seed.img");

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => NoCloudSeed.WriteAsync(path, Sample(), new CancellationToken(canceled: true)));

        Assert.Empty(Directory.EnumerateFileSystemEntries(directory));
    }

    [Fact]
    public void A_hostile_hostname_and_instance_id_stay_one_double_quoted_scalar_each()
    {
        var content = Sample() with
        {
            InstanceId = "id\"\r\n#: x",
            Hostname = "web \"01\"\\ # x: y\nlocal-hostname: evil\u2028\u0085\t\0\u00e9\U0001F600",
        };

        Assert.Equal(
            "instance-id: \"id\\\"\\r\\n#: x\"\n"
            + "local-hostname: \"web \\\"01\\\"\\\\ # x: y\\nlocal-hostname: evil\\u2028\\x85\\t\\x00\\xE9\\U0001F600\"\n",
            NoCloudSeed.MetaData(content));
    }

    /// <summary>
    /// What cloud-init itself would see: meta-data loaded with PyYAML's safe_load. Needs python3 with the yaml module
    /// (Debian: python3-yaml); without it this test checks nothing more than the exact-text test above does.
    /// </summary>
    [Fact]
    public async Task Hostile_meta_data_parses_back_with_PyYAML_as_exactly_the_two_keys()
    {
        var python = File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : FindTool("python3");
        if (python is null || (await RunAsync(python, "-c", "import yaml")).ExitCode != 0)
        {
            return;
        }

        string[] hostile =
        [
            "a\"b", "back\\slash", "trailing backslash\\", "line\nbreak: injected", "key: value", "# comment", "\r\n", "tab\there",
            "\u0085next line", "\u2028line\u2029paragraph", "emoji \U0001F600", "nul\0esc\u001b del\u007f", "' single", "- item",
            "{flow: map}", "[a, b]", "&anchor *alias", "!!python/object/apply:os.system [\"true\"]", "%YAML 1.2", "---", "...",
            "é ñ 中文", "\uFEFFbom", " leading and trailing ", "\"", "\\", "\\\"", "x\"\ninstance-id: \"y",
        ];
        var cases = hostile.Select((h, i) => (Id: $"{AppUuid}{h}", Host: h, Path: System.IO.Path.Combine(_temp.Path, $"meta-{i}.yaml"))).ToList();
        foreach (var c in cases)
        {
            await File.WriteAllTextAsync(c.Path, NoCloudSeed.MetaData(Sample() with { InstanceId = c.Id, Hostname = c.Host }), Encoding.ASCII);
        }

        var script = "import sys, json, yaml\nprint(json.dumps([yaml.safe_load(open(p, encoding='ascii')) for p in sys.argv[1:]]))";
        var result = await RunAsync(python, ["-c", script, .. cases.Select(c => c.Path)]);
        Assert.True(result.ExitCode == 0, result.Text);

        var parsed = JsonSerializer.Deserialize<List<Dictionary<string, string>>>(result.Stdout)!;
        Assert.Equal(cases.Count, parsed.Count);
        for (int i = 0; i < cases.Count; i++)
        {
            Assert.Equal(
                new Dictionary<string, string> { ["instance-id"] = cases[i].Id, ["local-hostname"] = cases[i].Host },
                parsed[i]);
        }
    }

    [Fact]
    public void Meta_data_is_two_lines_whose_scalars_unescape_to_the_original_strings()
    {
        var text = Gen.OneOf(Gen.String, Gen.String[HostileAlphabet], Gen.Char.Array[0, 40].Select(chars => new string(chars)));
        var instanceId = text.Where(s => !string.IsNullOrWhiteSpace(s));

        Gen.Select(instanceId, text).Sample((id, host) =>
        {
            var metaData = NoCloudSeed.MetaData(new NoCloudSeedContent(id, host, [], null));

            Assert.EndsWith("\n", metaData);
            var lines = metaData[..^1].Split('\n');
            Assert.Equal(2, lines.Length);
            Assert.Equal(id, Unquote(lines[0], "instance-id: "));
            Assert.Equal(host, Unquote(lines[1], "local-hostname: "));
        }, iter: 5000);
    }

    [Fact]
    public async Task Random_user_data_round_trips_through_the_image()
    {
        await Gen.Byte.Array[0, 200_000].SampleAsync(async userData =>
        {
            var image = await WriteSeedAsync(Sample(userData));
            try
            {
                Assert.Equal(userData, await ReadFileAsync(image, "user-data"));
            }
            finally
            {
                File.Delete(image);
            }
        }, iter: 20, threads: 4);
    }

    /// <summary>
    /// A strict reader of one <c>KEY: "..."</c> line: only printable ASCII inside the quotes, no bare quote before
    /// the last character, and only YAML 1.2's escapes, so anything our writer should not produce fails here.
    /// </summary>
    private static string Unquote(string line, string prefix)
    {
        Assert.StartsWith(prefix, line);
        var quoted = line[prefix.Length..];
        Assert.True(quoted.Length >= 2 && quoted[0] == '"' && quoted[^1] == '"', $"expected one double-quoted scalar, got: {quoted}");
        var value = new StringBuilder();
        for (int i = 1; i < quoted.Length - 1; i++)
        {
            char c = quoted[i];
            Assert.True(c is >= ' ' and <= '~', $"raw U+{(int)c:X4} at {i} of: {quoted}");
            Assert.True(c != '"', $"a bare quote at {i} ends the scalar early: {quoted}");
            if (c != '\\')
            {
                value.Append(c);
                continue;
            }
            Assert.True(i + 1 < quoted.Length - 1, $"a backslash escapes the closing quote: {quoted}");
            char escape = quoted[++i];
            switch (escape)
            {
                case '"' or '\\' or '/' or ' ':
                    value.Append(escape);
                    break;
                case '0': value.Append('\0'); break;
                case 'a': value.Append('\a'); break;
                case 'b': value.Append('\b'); break;
                case 't': value.Append('\t'); break;
                case 'n': value.Append('\n'); break;
                case 'v': value.Append('\v'); break;
                case 'f': value.Append('\f'); break;
                case 'r': value.Append('\r'); break;
                case 'e': value.Append('\u001b'); break;
                case 'N': value.Append('\u0085'); break;
                case '_': value.Append('\u00a0'); break;
                case 'L': value.Append('\u2028'); break;
                case 'P': value.Append('\u2029'); break;
                case 'x':
                    value.Append((char)Hex(quoted, ref i, 2));
                    break;
                case 'u':
                    value.Append((char)Hex(quoted, ref i, 4));
                    break;
                case 'U':
                    value.Append(char.ConvertFromUtf32(Hex(quoted, ref i, 8)));
                    break;
                default:
                    Assert.Fail($"'\\{escape}' is no YAML escape: {quoted}");
                    break;
            }
        }
        return value.ToString();
    }

    private static int Hex(string quoted, ref int i, int digits)
    {
        Assert.True(i + digits < quoted.Length - 1, $"a short \\x/\\u/\\U escape at {i}: {quoted}");
        var hex = quoted.Substring(i + 1, digits);
        Assert.True(int.TryParse(hex, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int value), $"'{hex}' is not hex: {quoted}");
        i += digits;
        return value;
    }

    /// <summary>A gzip'd MIME multipart, as cloud-init's tools make it: binary, with zeros and high bytes.</summary>
    private static byte[] GzipMultipart()
    {
        var multipart = "Content-Type: multipart/mixed; boundary=\"==BOUNDARY==\"\nMIME-Version: 1.0\n\n"
            + "--==BOUNDARY==\nContent-Type: text/cloud-config; charset=\"us-ascii\"\n\n#cloud-config\nhostname: web-01\n"
            + "--==BOUNDARY==\nContent-Type: text/x-shellscript\n\n#!/bin/sh\necho hello > /tmp/hello\n--==BOUNDARY==--\n";
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            gzip.Write(Encoding.ASCII.GetBytes(multipart));
        }
        var bytes = output.ToArray();
        Assert.Equal(new byte[] { 0x1f, 0x8b }, bytes[..2]);
        return bytes;
    }

    private static async Task<byte[]> ReadFileAsync(string image, string name)
    {
        var mtype = await RunAsync("mtype", "-i", image, $"::{name}");
        Assert.True(mtype.ExitCode == 0, $"mtype ::{name}: {mtype.Text}");
        return mtype.Stdout;
    }

    private static async Task<string[]> ListAsync(string image)
    {
        var mdir = await RunAsync("mdir", "-b", "-i", image, "::");
        Assert.True(mdir.ExitCode == 0, mdir.Text);
        return mdir.Text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(line => line.StartsWith("::/", StringComparison.Ordinal) ? line[3..] : line)
            .Order(StringComparer.Ordinal)
            .ToArray();
    }

    private sealed record ToolResult(int ExitCode, byte[] Stdout, string Stderr)
    {
        public string Text => Encoding.UTF8.GetString(Stdout) + Stderr;
    }

    private static readonly Dictionary<string, string> Packages = new()
    {
        ["fsck.vfat"] = "dosfstools",
        ["mtype"] = "mtools",
        ["mdir"] = "mtools",
        ["mlabel"] = "mtools",
        ["blkid"] = "util-linux",
    };

    private static string? FindTool(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Concat(["/usr/sbin", "/sbin"])
            .Where(dir => dir.Length > 0)
            .Select(dir => System.IO.Path.Combine(dir, tool))
            .FirstOrDefault(File.Exists);

    /// <summary>Runs a checker and keeps its stdout as raw bytes (mtype prints binary files as they are).</summary>
    private static async Task<ToolResult> RunAsync(string tool, params string[] args)
    {
        var executable = tool.StartsWith('/') ? tool : FindTool(tool);
        if (executable is null)
        {
            Assert.Fail($"the checker '{tool}' is not installed; apt-get install {Packages.GetValueOrDefault(tool, tool)}");
        }
        var start = new ProcessStartInfo(executable) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        // A bare image has no partition table or drive geometry for mtools to check.
        start.Environment["MTOOLS_SKIP_CHECK"] = "1";
        using var process = Process.Start(start)!;
        process.StandardInput.Close();
        using var stdout = new MemoryStream();
        var copy = process.StandardOutput.BaseStream.CopyToAsync(stdout);
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        await copy;
        return new ToolResult(process.ExitCode, stdout.ToArray(), await stderr);
    }
}
