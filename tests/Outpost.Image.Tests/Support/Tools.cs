using System.Diagnostics;

namespace Outpost.Image.Tests.Support;

public sealed record ToolResult(int ExitCode, string Stdout, string Stderr)
{
    public string All => Stdout + Stderr;
}

/// <summary>Runs the independent checkers (sgdisk, fsck.fat, unsquashfs, qemu-img...). A missing tool fails the test with the package to install.</summary>
public static class Tools
{
    private static readonly Dictionary<string, string> Packages = new()
    {
        ["sgdisk"] = "gdisk",
        ["fsck.fat"] = "dosfstools",
        ["mdir"] = "mtools",
        ["mtype"] = "mtools",
        ["mcopy"] = "mtools",
        ["mlabel"] = "mtools",
        ["unsquashfs"] = "squashfs-tools",
        ["qemu-img"] = "qemu-utils",
        ["qemu-system-x86_64"] = "qemu-system-x86",
        ["cpio"] = "cpio",
        ["tar"] = "tar",
    };

    public static string Require(string tool)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Concat(["/usr/sbin", "/sbin"]))
        {
            var candidate = Path.Combine(dir, tool);
            if (File.Exists(candidate)) return candidate;
        }
        Assert.Fail($"the checker '{tool}' is not installed; apt-get install {Packages.GetValueOrDefault(tool, tool)}");
        return "";
    }

    public static async Task<ToolResult> RunAsync(string tool, params string[] args)
    {
        var start = new ProcessStartInfo(Require(tool)) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var arg in args) start.ArgumentList.Add(arg);
        start.Environment["MTOOLS_SKIP_CHECK"] = "1";
        using var process = Process.Start(start)!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await process.WaitForExitAsync(timeout.Token);
        return new ToolResult(process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Copies <paramref name="length"/> bytes at <paramref name="offset"/> of a disk into a new file (fsck.fat needs a bare volume).</summary>
    public static async Task ExtractAsync(string disk, long offset, long length, string output)
    {
        await using var source = File.OpenRead(disk);
        await using var target = File.Create(output);
        source.Position = offset;
        var buffer = new byte[1 << 20];
        while (length > 0)
        {
            var read = await source.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, length)));
            if (read == 0) break;
            await target.WriteAsync(buffer.AsMemory(0, read));
            length -= read;
        }
    }
}
