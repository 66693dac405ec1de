using System.Diagnostics;
using Outpost.Agent.Workloads;
using Outpost.Agent.Workloads.Runc;

namespace Outpost.Agent.Tests.Workloads;

/// <summary>
/// A throw-away state root, a busybox rootfs and a RuncDriver over them. Disposing force-deletes every
/// container under its runc root, unmounts what is left and removes the temp directory, even after a failure.
/// </summary>
public sealed class RuncTestHost : IAsyncDisposable
{
    private const string Busybox = "/bin/busybox";

    private static readonly string[] Applets =
        ["sh", "echo", "sleep", "cat", "ls", "id", "pwd", "env", "touch", "mkdir", "printf", "true", "dd", "head"];

    private static readonly TimeSpan WaitBound = TimeSpan.FromSeconds(60);

    public RuncTestHost(bool useOverlay = true)
    {
        if (!File.Exists(Busybox))
        {
            throw new InvalidOperationException($"These tests need a static busybox at {Busybox}: apt-get install busybox-static.");
        }

        Root = Directory.CreateTempSubdirectory("outpost-workloads-").FullName;
        StateRoot = Path.Combine(Root, "state");
        Options = new RuncDriverOptions(StateRoot) { UseOverlay = useOverlay };
        // Throws a WorkloadRuntimeException that says what is missing when runc is absent or we are not root.
        Driver = new RuncDriver(Options);
        RootfsDirectory = CreateBusyboxRootfs(Path.Combine(Root, "image"));
    }

    public string Root { get; }

    public string StateRoot { get; }

    public RuncDriverOptions Options { get; }

    public RuncDriver Driver { get; }

    public string RootfsDirectory { get; }

    public string RuncRoot => Path.Combine(StateRoot, "runc");

    /// <summary>A spec whose image runs `sh -c script` from the busybox rootfs.</summary>
    public WorkloadSpec Spec(string script)
    {
        var id = Guid.NewGuid().ToString();
        return new(id, "Test App", [RootfsDirectory], Path.Combine(Root, "writable", id), new WorkloadProcess(
            new ImageProcessConfig(["sh", "-c"], [script], ["PATH=/bin"])));
    }

    public async Task<WorkloadStatus> WaitForStateAsync(string id, WorkloadState wanted)
    {
        var deadline = DateTime.UtcNow + WaitBound;
        var status = await Driver.GetStatusAsync(id, CancellationToken.None);
        while (status.State != wanted && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
            status = await Driver.GetStatusAsync(id, CancellationToken.None);
        }

        Assert.True(status.State == wanted,
            $"Expected workload {id} to become {wanted}, it is {status.State} ({status.Message}); console: {ConsoleText(id)}");
        return status;
    }

    public async Task<string> ReadConsoleAsync(string id, long fromOffset = 0)
    {
        var bytes = new List<byte>();
        await foreach (var chunk in Driver.ReadConsoleAsync(id, fromOffset, CancellationToken.None))
        {
            bytes.AddRange(chunk.Data.ToArray());
        }

        return System.Text.Encoding.UTF8.GetString(bytes.ToArray());
    }

    public string ConsoleText(string id)
    {
        var path = Path.Combine(StateRoot, "workloads", id, "console.log");
        return File.Exists(path) ? File.ReadAllText(path) : "(no console.log)";
    }

    public static (int ExitCode, string Output) Run(string program, params string[] args)
    {
        var startInfo = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            startInfo.ArgumentList.Add(arg);
        }

        using var process = Process.Start(startInfo)!;
        var output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output);
    }

    public static bool IsMounted(string path) =>
        File.ReadLines("/proc/self/mountinfo").Any(line => line.Split(' ')[4] == path);

    public async ValueTask DisposeAsync()
    {
        var workloads = Path.Combine(StateRoot, "workloads");
        var ids = Directory.Exists(workloads) ? Directory.GetDirectories(workloads).Select(Path.GetFileName).ToList() : [];
        foreach (var id in ids)
        {
            Run("runc", "--root", RuncRoot, "delete", "--force", id!);
            try
            {
                await Driver.DeleteAsync(id!, CancellationToken.None);
            }
            catch (WorkloadException)
            {
                // Best effort; the sweep below still unmounts and removes everything under Root.
            }
        }

        foreach (var mount in File.ReadLines("/proc/self/mountinfo").Select(l => l.Split(' ')[4]).Where(m => m.StartsWith(Root, StringComparison.Ordinal)).Reverse())
        {
            Run("umount", "-l", mount);
        }

        Directory.Delete(Root, recursive: true);
    }

    private static string CreateBusyboxRootfs(string rootfs)
    {
        var bin = Directory.CreateDirectory(Path.Combine(rootfs, "bin")).FullName;
        File.Copy(Busybox, Path.Combine(bin, "busybox"));
        foreach (var applet in Applets)
        {
            File.CreateSymbolicLink(Path.Combine(bin, applet), "busybox");
        }

        foreach (var dir in (string[])["etc", "tmp", "work", "proc", "sys", "dev"])
        {
            Directory.CreateDirectory(Path.Combine(rootfs, dir));
        }

        File.WriteAllText(Path.Combine(rootfs, "etc", "passwd"),
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n");
        File.WriteAllText(Path.Combine(rootfs, "etc", "group"),
            "root:x:0:\napp:x:1000:\nstaff:x:2000:app\n");
        return rootfs;
    }
}
