using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Outpost.Agent.Workloads.Qemu;

/// <summary>The formats a VM disk arrives in. An ISO is raw to QEMU but is attached read-only as a CD-ROM.</summary>
public enum VmDiskFormat
{
    Raw,
    Qcow2,
    Iso,
}

/// <summary>An image that passed <see cref="QemuImg.InspectAsync"/>: its format and sizes as qemu-img reports them.</summary>
public sealed record DiskImageInfo(VmDiskFormat Format, long VirtualSizeBytes, long ActualSizeBytes);

/// <summary>An image that must not be given to QEMU; the message says why and what to do.</summary>
public sealed class DiskImageException(string message) : WorkloadException(message);

/// <summary>
/// qemu-img for images from untrusted registries. The format is always stated (<c>-f</c>), never probed: a probed
/// "raw" disk that is really qcow2 could name a host file as its backing file and let the guest read it. Paths are
/// made absolute so qemu never reads a <c>json:</c> or <c>protocol:</c> prefix in them.
/// </summary>
public static class QemuImg
{
    public const string DefaultPath = "qemu-img";

    private const int SectorSize = 512;

    // The ISO9660 primary volume descriptor is sector 16 (2048-byte sectors); its signature follows the type byte.
    private const int IsoSignatureOffset = (16 * 2048) + 1;

    private static ReadOnlySpan<byte> Qcow2Magic => [(byte)'Q', (byte)'F', (byte)'I', 0xFB];

    private static ReadOnlySpan<byte> IsoSignature => "CD001"u8;

    public static bool LooksLikeQcow2(ReadOnlySpan<byte> header) => header.StartsWith(Qcow2Magic);

    public static async Task<DiskImageInfo> InspectAsync(
        string path, VmDiskFormat statedFormat, CancellationToken cancellationToken, string qemuImgPath = DefaultPath)
    {
        var fullPath = Path.GetFullPath(path);
        await RefuseWrongSignatureAsync(fullPath, statedFormat, cancellationToken).ConfigureAwait(false);
        var info = await InfoAsync(fullPath, statedFormat, qemuImgPath, cancellationToken).ConfigureAwait(false);
        if (statedFormat == VmDiskFormat.Qcow2)
        {
            // Refuse on what info shows first: check opens the data file, info does not.
            RefuseUnsafeQcow2(fullPath, info);
            await CheckQcow2Async(fullPath, qemuImgPath, cancellationToken).ConfigureAwait(false);
        }

        if (info.VirtualSize <= 0)
        {
            throw new DiskImageException(
                $"The {Describe(statedFormat)} image {fullPath} has a virtual size of 0 bytes, so there is no disk to give the VM. Upload an image with content.");
        }

        return new DiskImageInfo(statedFormat, info.VirtualSize, info.ActualSize);
    }

    public static async Task CreateOverlayAsync(
        string basePath,
        VmDiskFormat baseFormat,
        string overlayPath,
        long? minimumSizeBytes,
        CancellationToken cancellationToken,
        string qemuImgPath = DefaultPath)
    {
        if (baseFormat == VmDiskFormat.Iso)
        {
            throw new DiskImageException(
                $"The ISO image {basePath} cannot be the base of a disk overlay; attach it read-only as a CD-ROM instead.");
        }

        if (minimumSizeBytes is { } minimum)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(minimum, nameof(minimumSizeBytes));
        }

        var fullBase = Path.GetFullPath(basePath);
        await RefuseWrongSignatureAsync(fullBase, baseFormat, cancellationToken).ConfigureAwait(false);
        var info = await InfoAsync(fullBase, baseFormat, qemuImgPath, cancellationToken).ConfigureAwait(false);
        // The base should have been inspected already; these cheap checks keep a chain to host files impossible anyway.
        if (baseFormat == VmDiskFormat.Qcow2)
        {
            RefuseUnsafeQcow2(fullBase, info);
        }

        // Only ever grow: a disk smaller than its base would cut off the guest's filesystem.
        var size = RoundUpToSector(Math.Max(info.VirtualSize, minimumSizeBytes ?? 0));
        await CreateAtomicallyAsync(
            overlayPath,
            temp => ["create", "-q", "-f", "qcow2", "-b", fullBase, "-F", FormatName(baseFormat), temp, Bytes(size)],
            qemuImgPath,
            cancellationToken).ConfigureAwait(false);
    }

    public static Task CreateBlankAsync(string path, long virtualSizeBytes, CancellationToken cancellationToken, string qemuImgPath = DefaultPath)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(virtualSizeBytes);
        var size = RoundUpToSector(virtualSizeBytes);
        return CreateAtomicallyAsync(path, temp => ["create", "-q", "-f", "qcow2", temp, Bytes(size)], qemuImgPath, cancellationToken);
    }

    /// <summary>Our own look at the first bytes, so a file is never handed to qemu-img under the wrong format.</summary>
    private static async Task RefuseWrongSignatureAsync(string path, VmDiskFormat statedFormat, CancellationToken cancellationToken)
    {
        if (!File.Exists(path))
        {
            throw new DiskImageException($"The disk image {path} does not exist; download it again before starting the VM.");
        }

        var header = new byte[IsoSignatureOffset + IsoSignature.Length];
        int length;
        var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.Asynchronous);
        using (file)
        {
            length = await ReadFullyAsync(file, header, cancellationToken).ConfigureAwait(false);
        }

        if (length == 0)
        {
            throw new DiskImageException($"The disk image {path} is empty (0 bytes); the download probably failed. Download it again.");
        }

        var start = header.AsSpan(0, length);
        switch (statedFormat)
        {
            case VmDiskFormat.Qcow2 when !LooksLikeQcow2(start):
                throw new DiskImageException(
                    $"The image {path} was declared qcow2 but does not start with the qcow2 signature (QFI\\xfb). Declare its real format (raw or iso) or convert it with `qemu-img convert -O qcow2` and upload it again.");
            case VmDiskFormat.Raw or VmDiskFormat.Iso when LooksLikeQcow2(start):
                // QEMU would treat it as raw, but anything that probes later would open it as qcow2 with its backing file.
                throw new DiskImageException(
                    $"The image {path} was declared {Describe(statedFormat)} but is a qcow2 image; a disguised qcow2 could name a host file as its backing file. Declare it as qcow2, or convert it with `qemu-img convert -O raw` and upload it again.");
            case VmDiskFormat.Iso when length < header.Length || !start[IsoSignatureOffset..].StartsWith(IsoSignature):
                throw new DiskImageException(
                    $"The image {path} was declared iso but has no ISO9660 signature (CD001 at byte {IsoSignatureOffset}). Upload a real ISO9660 image, or declare the disk as raw.");
        }
    }

    private static async Task<int> ReadFullyAsync(Microsoft.Win32.SafeHandles.SafeFileHandle file, byte[] buffer, CancellationToken cancellationToken)
    {
        var total = 0;
        while (total < buffer.Length)
        {
            var read = await RandomAccess.ReadAsync(file, buffer.AsMemory(total), total, cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                break;
            }

            total += read;
        }

        return total;
    }

    private sealed record ImageFacts(long VirtualSize, long ActualSize, string? BackingFile, string? DataFile, bool HasDataFile, bool Encrypted, bool Corrupt);

    private static async Task<ImageFacts> InfoAsync(string path, VmDiskFormat format, string qemuImgPath, CancellationToken cancellationToken)
    {
        var result = await RunAsync(qemuImgPath, ["info", "-f", FormatName(format), "--output=json", path], cancellationToken).ConfigureAwait(false);
        if (result.ExitCode != 0)
        {
            throw new DiskImageException(
                $"qemu-img cannot read {path} as {Describe(format)} ({result.Stderr.Trim()}). The image is damaged or not in the declared format; check the format and upload it again.");
        }

        try
        {
            using var json = JsonDocument.Parse(result.Stdout);
            var root = json.RootElement;
            var data = root.TryGetProperty("format-specific", out var specific) && specific.TryGetProperty("data", out var d)
                ? d
                : default;
            return new ImageFacts(
                VirtualSize: Int64(root, "virtual-size") ?? throw new JsonException("no virtual-size"),
                ActualSize: Int64(root, "actual-size") ?? 0,
                BackingFile: String(root, "backing-filename"),
                DataFile: String(data, "data-file"),
                // data-file-raw is reported whenever the image has an external data file, even one it does not name.
                HasDataFile: Has(data, "data-file") || Has(data, "data-file-raw"),
                Encrypted: Bool(root, "encrypted"),
                Corrupt: Bool(data, "corrupt"));
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw new WorkloadRuntimeException(
                $"qemu-img info printed output this agent cannot read for {path} ({e.Message}); install the qemu-utils version the agent supports.", e);
        }
    }

    private static void RefuseUnsafeQcow2(string path, ImageFacts info)
    {
        if (info.BackingFile is { } backing)
        {
            throw new DiskImageException(
                $"The qcow2 image {path} names a backing file ({backing}); images with backing files are refused because the guest could read files of the host. Flatten it with `qemu-img convert -O qcow2` and upload it again.");
        }

        if (info.HasDataFile)
        {
            throw new DiskImageException(
                $"The qcow2 image {path} keeps its data in an external data file ({info.DataFile ?? "not named"}); such images are refused because the guest could read or overwrite files of the host. Flatten it with `qemu-img convert -O qcow2` and upload it again.");
        }

        if (info.Encrypted)
        {
            throw new DiskImageException(
                $"The qcow2 image {path} is encrypted, and the agent has no key for it. Decrypt it with `qemu-img convert -O qcow2` (giving the secret with --object) and upload it again.");
        }

        if (info.Corrupt)
        {
            throw new DiskImageException(
                $"The qcow2 image {path} is marked corrupt in its header. Repair it with `qemu-img check -r all` or recreate it, and upload it again.");
        }
    }

    private static async Task CheckQcow2Async(string path, string qemuImgPath, CancellationToken cancellationToken)
    {
        // Exit codes (qemu-img(1)): 0 consistent, 1 not checked, 2 corrupt, 3 only leaked clusters (wasted space, harmless).
        var result = await RunAsync(qemuImgPath, ["check", "-f", "qcow2", "--output=json", path], cancellationToken).ConfigureAwait(false);
        switch (result.ExitCode)
        {
            case 0 or 3:
                return;
            case 2:
                throw new DiskImageException(
                    $"The qcow2 image {path} is corrupt ({CheckSummary(result)}). Repair it with `qemu-img check -r all` or recreate it, and upload it again.");
            default:
                throw new DiskImageException(
                    $"qemu-img could not check the qcow2 image {path} (exit {result.ExitCode}: {result.Stderr.Trim()}). The image is damaged or uses features the agent refuses; recreate it with `qemu-img convert -O qcow2` and upload it again.");
        }
    }

    private static string CheckSummary(ProcessResult result)
    {
        var corruptions = "";
        try
        {
            using var json = JsonDocument.Parse(result.Stdout);
            corruptions = Int64(json.RootElement, "corruptions") is { } count ? $"{count} corruptions; " : "";
        }
        catch (JsonException)
        {
            // The stderr lines say enough on their own.
        }

        return corruptions + string.Join("; ", result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Take(5));
    }

    /// <summary>Runs qemu-img create on a temporary name and renames it, so a crash never leaves a half-made disk under the real name.</summary>
    private static async Task CreateAtomicallyAsync(
        string path, Func<string, IReadOnlyList<string>> arguments, string qemuImgPath, CancellationToken cancellationToken)
    {
        var fullPath = Path.GetFullPath(path);
        var temp = fullPath + ".partial";
        try
        {
            var result = await RunAsync(qemuImgPath, arguments(temp), cancellationToken).ConfigureAwait(false);
            if (result.ExitCode != 0)
            {
                throw new WorkloadRuntimeException($"qemu-img could not create the disk {fullPath} (exit {result.ExitCode}): {result.Stderr.Trim()}");
            }

            using (var created = new FileStream(temp, FileMode.Open, FileAccess.ReadWrite))
            {
                created.Flush(flushToDisk: true);
            }

            File.Move(temp, fullPath, overwrite: true);
        }
        finally
        {
            File.Delete(temp);
        }
    }

    private sealed record ProcessResult(int ExitCode, string Stdout, string Stderr);

    private static async Task<ProcessResult> RunAsync(string qemuImgPath, IReadOnlyList<string> arguments, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var startInfo = new ProcessStartInfo(qemuImgPath)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        // Messages in English whatever the host's locale, since they end up in our error messages.
        startInfo.Environment["LC_ALL"] = "C";
        using var process = Start(startInfo, qemuImgPath);
        // Nothing is ever typed in: an image that wants a passphrase must fail, not wait.
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
        try
        {
            await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // A crafted image can keep qemu-img busy for long; cancelling must not leave it running.
            try
            {
                process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // It exited on its own meanwhile.
            }

            await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
            throw;
        }

        return new ProcessResult(process.ExitCode, await stdout.ConfigureAwait(false), await stderr.ConfigureAwait(false));
    }

    private static Process Start(ProcessStartInfo startInfo, string qemuImgPath)
    {
        try
        {
            return Process.Start(startInfo) ?? throw new WorkloadRuntimeException($"qemu-img at '{qemuImgPath}' did not start.");
        }
        catch (Win32Exception e)
        {
            throw new WorkloadRuntimeException(
                $"qemu-img could not be started from '{qemuImgPath}' ({e.Message}); install qemu-utils (apt-get install qemu-utils) or point the agent at qemu-img.", e);
        }
    }

    private static string FormatName(VmDiskFormat format) => format == VmDiskFormat.Qcow2 ? "qcow2" : "raw";

    private static string Describe(VmDiskFormat format) => format switch
    {
        VmDiskFormat.Qcow2 => "qcow2",
        VmDiskFormat.Iso => "iso",
        _ => "raw",
    };

    private static long RoundUpToSector(long bytes) => (bytes + SectorSize - 1) / SectorSize * SectorSize;

    private static string Bytes(long size) => size.ToString(CultureInfo.InvariantCulture);

    private static bool Has(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out _);

    private static long? Int64(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) ? value.GetInt64() : null;

    private static string? String(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) ? value.GetString() : null;

    private static bool Bool(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.GetBoolean();
}
