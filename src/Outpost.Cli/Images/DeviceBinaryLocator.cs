using System.Diagnostics;
using Outpost.Cli.Commands;

namespace Outpost.Cli.Images;

/// <summary>
/// Finds the Native AOT device binary (`outpost-device`: PID 1 and the agent of an Outpost OS image) for
/// `outpost image build`, in this order: --device-binary, $OUTPOST_DEVICE_BINARY, beside the running `outpost` (an
/// installed release has both), and — when the CLI runs from the source tree — a publish of src/Outpost.Device into
/// artifacts/device, redone when a source file is newer than the binary.
/// </summary>
internal static class DeviceBinaryLocator
{
    public const string FileName = "outpost-device";
    public const string EnvironmentVariable = "OUTPOST_DEVICE_BINARY";
    private static readonly string[] SourceProjects = ["Outpost.Device", "Outpost.Agent", "Outpost.Api", "Outpost.Oci", "Outpost.Disk"];

    public static async Task<string> LocateAsync(string? explicitPath, IProgress<string>? progress, CancellationToken cancellationToken)
    {
        if (explicitPath is not null) return Path.GetFullPath(explicitPath);
        if (Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } fromEnvironment) return Path.GetFullPath(fromEnvironment);
        var beside = Path.Combine(AppContext.BaseDirectory, FileName);
        if (File.Exists(beside)) return beside;
        if (FindSourceTree() is not { } root)
            throw new CliException($"no device binary: pass --device-binary PATH or set {EnvironmentVariable}, or install Outpost with the README's install command (it puts {FileName} beside outpost).");
        return await PublishFromSourceAsync(root, progress, cancellationToken);
    }

    private static string? FindSourceTree()
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "src", "Outpost.Device", "Outpost.Device.csproj"))) return dir.FullName;
        return null;
    }

    private static async Task<string> PublishFromSourceAsync(string root, IProgress<string>? progress, CancellationToken cancellationToken)
    {
        var output = Directory.CreateDirectory(Path.Combine(root, "artifacts", "device")).FullName;
        var binary = Path.Combine(output, FileName);
        // Several builds (tests, two terminals) may ask at once; one publishes, the others wait for it.
        await using var gate = await LockAsync(Path.Combine(output, ".publish.lock"), cancellationToken);
        if (File.Exists(binary) && File.GetLastWriteTimeUtc(binary) >= NewestSource(root)) return binary;

        progress?.Report($"building {FileName} (Native AOT, about a minute) into {output}");
        var start = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { "publish", Path.Combine(root, "src", "Outpost.Device", "Outpost.Device.csproj"), "-c", "Release", "-o", output, "-nologo" })
            start.ArgumentList.Add(argument);
        using var process = Process.Start(start) ?? throw new CliException("cannot run dotnet to build the device binary.");
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        if (process.ExitCode != 0)
            throw new CliException($"building the device binary failed (dotnet publish exit {process.ExitCode}):\n{string.Join('\n', ((await stdout) + (await stderr)).Split('\n').TakeLast(20))}");
        File.SetLastWriteTimeUtc(binary, DateTime.UtcNow);
        return binary;
    }

    private static DateTime NewestSource(string root) =>
        SourceProjects.Select(p => Path.Combine(root, "src", p)).Where(Directory.Exists)
            .SelectMany(d => Directory.EnumerateFiles(d, "*", SearchOption.AllDirectories))
            .Where(f => !f.Contains("/bin/", StringComparison.Ordinal) && !f.Contains("/obj/", StringComparison.Ordinal))
            .Select(File.GetLastWriteTimeUtc)
            .DefaultIfEmpty(DateTime.MinValue)
            .Max();

    private static async Task<FileStream> LockAsync(string path, CancellationToken cancellationToken)
    {
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose);
            }
            catch (IOException)
            {
                await Task.Delay(500, cancellationToken);
            }
        }
    }
}
