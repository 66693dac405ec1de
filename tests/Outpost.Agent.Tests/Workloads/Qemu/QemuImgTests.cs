using System.Buffers.Binary;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using CsCheck;
using Outpost.Agent.Tests.Fixtures;
using Outpost.Agent.Workloads;
using Outpost.Agent.Workloads.Qemu;

namespace Outpost.Agent.Tests.Workloads.Qemu;

/// <summary>Inspection and overlays against the real qemu-img, with inputs made by qemu-img itself.</summary>
public sealed class QemuImgTests : IDisposable
{
    private const long MiB = 1024 * 1024;

    private readonly TempDirectory _temp = new();
    private readonly CancellationTokenSource _timeout = new(TimeSpan.FromMinutes(2));

    private CancellationToken Token => _timeout.Token;

    public void Dispose()
    {
        _timeout.Dispose();
        _temp.Dispose();
    }

    [Fact]
    public async Task A_raw_image_is_inspected_with_its_virtual_size()
    {
        var raw = RawWithContent("disk.raw", 8 * MiB);

        var info = await QemuImg.InspectAsync(raw, VmDiskFormat.Raw, Token);

        Assert.Equal(new DiskImageInfo(VmDiskFormat.Raw, 8 * MiB, info.ActualSizeBytes), info);
        Assert.True(info.ActualSizeBytes > 0, $"expected the allocated size of a written raw disk, got {info.ActualSizeBytes}");
    }

    [Fact]
    public async Task A_qcow2_image_is_inspected_with_its_virtual_size()
    {
        var qcow2 = PathOf("disk.qcow2");
        Run("qemu-img", "create", "-q", "-f", "qcow2", qcow2, "64M");

        var info = await QemuImg.InspectAsync(qcow2, VmDiskFormat.Qcow2, Token);

        Assert.Equal(VmDiskFormat.Qcow2, info.Format);
        Assert.Equal(64 * MiB, info.VirtualSizeBytes);
        // Only metadata is allocated, far less than the virtual size.
        Assert.InRange(info.ActualSizeBytes, 1, MiB);
    }

    [Fact]
    public async Task A_qcow2_with_only_leaked_clusters_is_accepted()
    {
        var qcow2 = PathOf("leaky.qcow2");
        Run("qemu-img", "create", "-q", "-f", "qcow2", qcow2, "64M");
        long clusters;
        using (var check = JsonDocument.Parse(Run("qemu-img", "check", "-f", "qcow2", "--output=json", qcow2)))
        {
            clusters = check.RootElement.GetProperty("image-end-offset").GetInt64() / 65536;
        }

        // A refcount of 1 on a cluster past the metadata that nothing references: wasted space, not corruption.
        SetRefcount(qcow2, (int)clusters, 1);
        using (var file = File.OpenWrite(qcow2))
        {
            file.SetLength((clusters + 1) * 65536);
        }

        Assert.Equal(3, RunExitCode("qemu-img", "check", "-f", "qcow2", qcow2));

        var info = await QemuImg.InspectAsync(qcow2, VmDiskFormat.Qcow2, Token);

        Assert.Equal(64 * MiB, info.VirtualSizeBytes);
    }

    [Fact]
    public async Task An_iso_image_with_the_iso9660_signature_is_accepted()
    {
        var iso = MakeIso();

        var info = await QemuImg.InspectAsync(iso, VmDiskFormat.Iso, Token);

        Assert.Equal(VmDiskFormat.Iso, info.Format);
        Assert.Equal(new FileInfo(iso).Length, info.VirtualSizeBytes);
    }

    [Theory]
    [InlineData(VmDiskFormat.Raw, 32, 32)]
    [InlineData(VmDiskFormat.Qcow2, 32, 32)]
    [InlineData(VmDiskFormat.Raw, 1, 8)]
    [InlineData(VmDiskFormat.Qcow2, 1, 8)]
    [InlineData(VmDiskFormat.Raw, -1, 8)]
    [InlineData(VmDiskFormat.Qcow2, -1, 8)]
    public async Task An_overlay_grows_to_the_minimum_size_and_never_shrinks_below_its_base(VmDiskFormat baseFormat, int minimumMiB, int expectedMiB)
    {
        var basePath = Base8MiB(baseFormat);
        var overlay = PathOf("overlay.qcow2");

        await QemuImg.CreateOverlayAsync(basePath, baseFormat, overlay, minimumMiB < 0 ? null : minimumMiB * MiB, Token);

        using var info = JsonDocument.Parse(Run("qemu-img", "info", "-f", "qcow2", "--output=json", overlay));
        var root = info.RootElement;
        Assert.Equal(expectedMiB * MiB, root.GetProperty("virtual-size").GetInt64());
        Assert.Equal(basePath, root.GetProperty("backing-filename").GetString());
        Assert.Equal(baseFormat == VmDiskFormat.Raw ? "raw" : "qcow2", root.GetProperty("backing-filename-format").GetString());
        Assert.False(File.Exists(overlay + ".partial"), "the temporary overlay should have been renamed");
    }

    [Theory]
    [InlineData(VmDiskFormat.Raw)]
    [InlineData(VmDiskFormat.Qcow2)]
    public async Task A_write_through_the_overlay_leaves_the_base_unchanged(VmDiskFormat baseFormat)
    {
        var basePath = Base8MiB(baseFormat);
        var overlay = PathOf("overlay.qcow2");
        var before = Sha256(basePath);

        await QemuImg.CreateOverlayAsync(basePath, baseFormat, overlay, 16 * MiB, Token);
        if (FindOnPath("qemu-io") is { } qemuIo)
        {
            Run(qemuIo, "-f", "qcow2", "-c", "write -P 0xab 0 1M", "-c", "write -P 0xcd 12M 1M", overlay);
            var read = Run(qemuIo, "-f", "qcow2", "-c", "read -P 0xab 0 1M", "-c", "read -P 0xcd 12M 1M", overlay);
            Assert.DoesNotContain("Pattern verification failed", read);
        }
        else
        {
            // Without qemu-io, at least the overlay must open with its backing file.
            Run("qemu-img", "info", "-f", "qcow2", "--backing-chain", overlay);
        }

        Assert.Equal(before, Sha256(basePath));
        // The overlay names a backing file, so it is itself no image to accept from a registry.
        await AssertRefusedAsync(overlay, VmDiskFormat.Qcow2, "backing file");
    }

    [Fact]
    public async Task An_iso_cannot_be_the_base_of_an_overlay()
    {
        var iso = MakeIso();
        var overlay = PathOf("overlay.qcow2");

        var refused = await Assert.ThrowsAsync<DiskImageException>(() => QemuImg.CreateOverlayAsync(iso, VmDiskFormat.Iso, overlay, null, Token));

        Assert.Contains("CD-ROM", refused.Message);
        Assert.False(File.Exists(overlay));
    }

    [Fact]
    public async Task A_blank_disk_is_a_qcow2_of_the_asked_size_without_backing_file()
    {
        var blank = PathOf("blank.qcow2");

        await QemuImg.CreateBlankAsync(blank, 100 * MiB, Token);

        var info = await QemuImg.InspectAsync(blank, VmDiskFormat.Qcow2, Token);
        Assert.Equal(100 * MiB, info.VirtualSizeBytes);
    }

    [Fact]
    public async Task A_qcow2_stated_as_raw_is_refused()
    {
        var qcow2 = PathOf("disguised.img");
        Run("qemu-img", "create", "-q", "-f", "qcow2", qcow2, "8M");

        await AssertRefusedAsync(qcow2, VmDiskFormat.Raw, "is a qcow2 image");
        await AssertRefusedAsync(qcow2, VmDiskFormat.Iso, "is a qcow2 image");
    }

    [Fact]
    public async Task A_raw_image_stated_as_qcow2_is_refused()
    {
        var raw = RawWithContent("disk.raw", MiB);

        await AssertRefusedAsync(raw, VmDiskFormat.Qcow2, "does not start with the qcow2 signature");
    }

    [Fact]
    public async Task A_qcow2_with_a_backing_file_is_refused_and_names_it()
    {
        var hostFile = RawWithContent("host-secret.raw", MiB);
        var qcow2 = PathOf("backed.qcow2");
        Run("qemu-img", "create", "-q", "-f", "qcow2", "-b", hostFile, "-F", "raw", qcow2);

        var message = await AssertRefusedAsync(qcow2, VmDiskFormat.Qcow2, "backing file");

        Assert.Contains(hostFile, message);
        Assert.Contains("qemu-img convert -O qcow2", message);
    }

    [Fact]
    public async Task A_qcow2_with_an_external_data_file_is_refused()
    {
        var qcow2 = PathOf("data-file.qcow2");
        var dataFile = PathOf("data.bin");
        Run("qemu-img", "create", "-q", "-f", "qcow2", "-o", $"data_file={dataFile}", qcow2, "8M");

        var message = await AssertRefusedAsync(qcow2, VmDiskFormat.Qcow2, "external data file");

        Assert.Contains(dataFile, message);
    }

    [Fact]
    public async Task A_qcow2_whose_header_asks_for_an_unnamed_data_file_is_refused()
    {
        var qcow2 = PathOf("unnamed-data-file.qcow2");
        Run("qemu-img", "create", "-q", "-f", "qcow2", qcow2, "8M");
        // Incompatible feature bit 2 (external data file) at header offset 72, without the extension that names it.
        var bytes = File.ReadAllBytes(qcow2);
        bytes[79] |= 0x04;
        File.WriteAllBytes(qcow2, bytes);

        await AssertRefusedAsync(qcow2, VmDiskFormat.Qcow2, "external data file");
    }

    [Fact]
    public async Task An_encrypted_qcow2_is_refused()
    {
        var qcow2 = PathOf("encrypted.qcow2");
        // qcow2's own AES encryption: LUKS would first time its key derivation, which under load qemu-img can fail
        // ("Unable to get accurate CPU usage"); the refusal reads the same "encrypt" field for both.
        Run(
            "qemu-img", "create", "-q", "--object", "secret,id=sec0,data=x", "-f", "qcow2",
            "-o", "encrypt.format=aes,encrypt.key-secret=sec0", qcow2, "8M");

        await AssertRefusedAsync(qcow2, VmDiskFormat.Qcow2, "is encrypted");
    }

    [Fact]
    public async Task A_corrupt_qcow2_is_refused()
    {
        var qcow2 = PathOf("corrupt.qcow2");
        Run("qemu-img", "create", "-q", "-f", "qcow2", qcow2, "64M");
        // Cluster 0 (the header) is in use; a refcount of 0 lets QEMU allocate over it.
        SetRefcount(qcow2, 0, 0);
        Assert.Equal(2, RunExitCode("qemu-img", "check", "-f", "qcow2", qcow2));

        var message = await AssertRefusedAsync(qcow2, VmDiskFormat.Qcow2, "is corrupt");

        Assert.Contains("refcount=0", message);
    }

    [Fact]
    public async Task A_truncated_qcow2_header_is_refused()
    {
        var whole = PathOf("whole.qcow2");
        Run("qemu-img", "create", "-q", "-f", "qcow2", whole, "8M");
        var truncated = PathOf("truncated.qcow2");
        File.WriteAllBytes(truncated, File.ReadAllBytes(whole)[..50]);

        var message = await AssertRefusedAsync(truncated, VmDiskFormat.Qcow2, "cannot read");

        Assert.Contains("header too short", message);
    }

    [Fact]
    public async Task A_qcow2_with_a_virtual_size_of_zero_is_refused()
    {
        var qcow2 = PathOf("zero.qcow2");
        Run("qemu-img", "create", "-q", "-f", "qcow2", qcow2, "0");

        await AssertRefusedAsync(qcow2, VmDiskFormat.Qcow2, "virtual size of 0");
    }

    [Fact]
    public async Task An_iso_without_the_iso9660_signature_is_refused()
    {
        var notIso = PathOf("not.iso");
        File.WriteAllBytes(notIso, new byte[64 * 1024]);

        await AssertRefusedAsync(notIso, VmDiskFormat.Iso, "CD001");
    }

    [Fact]
    public async Task An_iso_shorter_than_its_volume_descriptor_is_refused()
    {
        var shortIso = PathOf("short.iso");
        File.WriteAllBytes(shortIso, new byte[4096]);

        await AssertRefusedAsync(shortIso, VmDiskFormat.Iso, "CD001");
    }

    [Theory]
    [InlineData(VmDiskFormat.Raw)]
    [InlineData(VmDiskFormat.Qcow2)]
    [InlineData(VmDiskFormat.Iso)]
    public async Task An_empty_file_is_refused(VmDiskFormat format)
    {
        var empty = PathOf("empty.img");
        File.WriteAllBytes(empty, []);

        await AssertRefusedAsync(empty, format, "is empty");
    }

    [Theory]
    [InlineData(VmDiskFormat.Raw)]
    [InlineData(VmDiskFormat.Qcow2)]
    [InlineData(VmDiskFormat.Iso)]
    public async Task A_missing_file_is_refused_naming_its_path(VmDiskFormat format)
    {
        var missing = PathOf("missing.img");

        var message = await AssertRefusedAsync(missing, format, "does not exist");

        Assert.Contains(missing, message);
    }

    [Fact]
    public async Task An_overlay_on_a_missing_base_is_refused_naming_its_path()
    {
        var missing = PathOf("missing.raw");

        var refused = await Assert.ThrowsAsync<DiskImageException>(
            () => QemuImg.CreateOverlayAsync(missing, VmDiskFormat.Raw, PathOf("overlay.qcow2"), null, Token));

        Assert.Contains(missing, refused.Message);
    }

    [Fact]
    public async Task Without_qemu_img_the_error_says_to_install_qemu_utils()
    {
        var raw = RawWithContent("disk.raw", MiB);

        var error = await Assert.ThrowsAsync<WorkloadRuntimeException>(
            () => QemuImg.InspectAsync(raw, VmDiskFormat.Raw, Token, qemuImgPath: PathOf("no-such-qemu-img")));

        Assert.Contains("install qemu-utils", error.Message);
    }

    [Fact]
    public async Task Cancelling_kills_a_qemu_img_that_does_not_finish()
    {
        var raw = RawWithContent("disk.raw", MiB);
        var hanging = PathOf("hanging-qemu-img");
        var pidFile = PathOf("hanging.pid");
        File.WriteAllText(hanging, $"#!/bin/sh\necho $$ > '{pidFile}'\nexec sleep 60\n");
        File.SetUnixFileMode(hanging, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
        var watch = Stopwatch.StartNew();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => QemuImg.InspectAsync(raw, VmDiskFormat.Raw, cancel.Token, qemuImgPath: hanging));

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"cancelling took {watch.Elapsed}");
        var pid = int.Parse(File.ReadAllText(pidFile).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.False(Directory.Exists($"/proc/{pid}"), $"the hanging qemu-img (pid {pid}) is still running after cancel");
    }

    [Fact]
    public void Only_the_qcow2_magic_looks_like_qcow2()
    {
        Assert.True(QemuImg.LooksLikeQcow2([0x51, 0x46, 0x49, 0xFB, 0, 0, 0, 3]));
        Assert.True(QemuImg.LooksLikeQcow2([0x51, 0x46, 0x49, 0xFB]));
        Assert.False(QemuImg.LooksLikeQcow2([0x51, 0x46, 0x49]));
        Assert.False(QemuImg.LooksLikeQcow2("QFI\u00fb"u8));
        Assert.False(QemuImg.LooksLikeQcow2([]));
    }

    [Fact]
    public async Task Arbitrary_bytes_are_either_accepted_or_refused_with_a_disk_image_exception()
    {
        var real = PathOf("real.qcow2");
        Run("qemu-img", "create", "-q", "-f", "qcow2", real, "64M");
        var realBytes = File.ReadAllBytes(real);
        var random = Gen.Byte.Array[0, 4096];
        // A real qcow2 with bytes of its header changed and cut at some length reaches deeper into qemu-img's parser.
        var mutated = Gen.Select(Gen.Int[0, realBytes.Length], Gen.Select(Gen.Int[0, 511], Gen.Byte).Array[0, 12], (length, edits) =>
        {
            var bytes = realBytes.ToArray();
            foreach (var (offset, value) in edits)
            {
                bytes[offset] = value;
            }

            return bytes[..length];
        });
        var samples = _temp.Sub("samples");

        await Gen.OneOf(random, mutated).SampleAsync(
            async bytes =>
            {
                var path = Path.Combine(samples, Guid.NewGuid().ToString("n"));
                await File.WriteAllBytesAsync(path, bytes, Token);
                foreach (var format in Enum.GetValues<VmDiskFormat>())
                {
                    try
                    {
                        var info = await QemuImg.InspectAsync(path, format, Token);
                        Assert.Equal(format, info.Format);
                        Assert.True(info.VirtualSizeBytes > 0, $"accepted as {format} with virtual size {info.VirtualSizeBytes}");
                    }
                    catch (DiskImageException)
                    {
                        // Refused with a message: the only other allowed outcome.
                    }
                }

                File.Delete(path);
            },
            iter: 60,
            threads: 4);
    }

    private async Task<string> AssertRefusedAsync(string path, VmDiskFormat format, string expected)
    {
        var refused = await Assert.ThrowsAsync<DiskImageException>(() => QemuImg.InspectAsync(path, format, Token));
        Assert.True(refused.Message.Contains(expected, StringComparison.Ordinal), $"expected a message with \"{expected}\", got: {refused.Message}");
        return refused.Message;
    }

    private string PathOf(string name) => Path.Combine(_temp.Path, name);

    /// <summary>A raw disk full of random bytes, so a change to any of them shows in its hash.</summary>
    private string RawWithContent(string name, long size)
    {
        var path = PathOf(name);
        File.WriteAllBytes(path, RandomNumberGenerator.GetBytes((int)size));
        return path;
    }

    private string Base8MiB(VmDiskFormat format)
    {
        var raw = RawWithContent("base.raw", 8 * MiB);
        if (format == VmDiskFormat.Raw)
        {
            return raw;
        }

        var qcow2 = PathOf("base.qcow2");
        Run("qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", raw, qcow2);
        return qcow2;
    }

    /// <summary>A real ISO9660 image when xorriso or genisoimage is installed, else just the signature at its place.</summary>
    private string MakeIso()
    {
        var iso = PathOf("cdrom.iso");
        var content = _temp.Sub("iso-content");
        File.WriteAllText(Path.Combine(content, "hello.txt"), "hello\n");
        if (FindOnPath("xorriso") is { } xorriso)
        {
            Run(xorriso, "-as", "mkisofs", "-quiet", "-o", iso, content);
        }
        else if (FindOnPath("genisoimage") is { } genisoimage)
        {
            Run(genisoimage, "-quiet", "-o", iso, content);
        }
        else
        {
            var bytes = new byte[64 * 1024];
            bytes[32768] = 1;
            "CD001"u8.CopyTo(bytes.AsSpan(32769));
            File.WriteAllBytes(iso, bytes);
        }

        return iso;
    }

    /// <summary>Sets the 16-bit refcount of one cluster in the first refcount block (header offset 48: the refcount table).</summary>
    private static void SetRefcount(string qcow2, int cluster, ushort refcount)
    {
        using var file = new FileStream(qcow2, FileMode.Open, FileAccess.ReadWrite);
        Span<byte> buffer = stackalloc byte[8];
        file.Position = 48;
        file.ReadExactly(buffer);
        file.Position = (long)BinaryPrimitives.ReadUInt64BigEndian(buffer);
        file.ReadExactly(buffer);
        file.Position = (long)BinaryPrimitives.ReadUInt64BigEndian(buffer) + (cluster * 2);
        BinaryPrimitives.WriteUInt16BigEndian(buffer, refcount);
        file.Write(buffer[..2]);
    }

    private static string Sha256(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => Path.Combine(directory, name))
            .FirstOrDefault(File.Exists);

    private static string Run(string program, params string[] arguments)
    {
        var (exitCode, stdout, stderr) = Execute(program, arguments);
        Assert.True(exitCode == 0, $"{program} {string.Join(' ', arguments)} exited {exitCode}: {stderr}{stdout}");
        return stdout;
    }

    private static int RunExitCode(string program, params string[] arguments) => Execute(program, arguments).ExitCode;

    private static (int ExitCode, string Stdout, string Stderr) Execute(string program, string[] arguments)
    {
        var startInfo = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        using var process = Process.Start(startInfo)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout, stderr.GetAwaiter().GetResult());
    }
}
