using System.Diagnostics;

namespace Outpost.Agent.Workloads;

/// <summary>
/// Starts a workload's runtime process (`runc run`, `qemu-system-x86_64`) in the foreground under a tiny /bin/sh
/// parent that outlives the agent. The shell opens a log with O_APPEND (>>) and hands it to the runtime as stdout and
/// stderr with stdin on /dev/null: nothing writes into a pipe the agent must drain. It can first move itself into the
/// workload's cgroups, so the runtime starts inside its limits from its first instruction. The shell stays the
/// runtime's parent, so when the runtime ends it records its exit status (128+N for a signal), which tells a crash
/// from a clean exit after the agent itself restarted.
/// </summary>
internal static class WorkloadShim
{
    /// <summary>argv[0] of the shell; lets the driver recognise its shims among host processes.</summary>
    public const string Name = "outpost-shim";

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<int, Process> RunningShims = new();

    // umask 077: the console log and exit status are the agent's files, like everything in its state directory.
    // $3 lists cgroup.procs files separated by ':' (empty for none); writing $$ to each moves the shell, and so
    // everything it starts, into that cgroup.
    private const string Script = """
        umask 077
        exec </dev/null >>"$1" 2>&1
        exit_file=$2
        IFS=:
        for procs in $3; do echo $$ >"$procs" || { echo "outpost-shim: cannot join cgroup $procs" >&2; echo 125 >"$exit_file"; exit 125; }; done
        unset IFS
        shift 3
        "$@"
        echo $? >"$exit_file"
        """;

    /// <summary>Starts <paramref name="command"/> under the shim; returns the shim's pid.</summary>
    /// <param name="logPath">Receives the command's stdout and stderr (appended).</param>
    /// <param name="exitStatusPath">Receives the command's exit status once it ends.</param>
    /// <param name="cgroupProcsFiles">cgroup.procs files to join before the command runs.</param>
    /// <param name="id">The workload id; it must appear in the command line so <see cref="IsAlive"/> can tell the shim apart.</param>
    public static int Start(string logPath, string exitStatusPath, IReadOnlyList<string> cgroupProcsFiles, string id, IReadOnlyList<string> command)
    {
        if (cgroupProcsFiles.Any(f => f.Contains(':', StringComparison.Ordinal)))
        {
            throw new WorkloadRuntimeException($"A cgroup path of workload {id} contains ':', which the shim uses as a separator.");
        }

        // setsid puts the shim in its own session: a Ctrl-C or SIGHUP aimed at the agent does not reach the app.
        var setsid = FindOnPath("setsid");
        var startInfo = new ProcessStartInfo(setsid ?? "/bin/sh") { UseShellExecute = false };
        var args = startInfo.ArgumentList;
        if (setsid is not null)
        {
            args.Add("/bin/sh");
        }

        foreach (var arg in (string[])["-c", Script, Name, logPath, exitStatusPath, string.Join(':', cgroupProcsFiles)])
        {
            args.Add(arg);
        }

        foreach (var arg in command)
        {
            args.Add(arg);
        }

        var process = Process.Start(startInfo)
            ?? throw new WorkloadRuntimeException($"The shim for workload {id} did not start.");
        // Held until it ends so the runtime reaps it instead of leaving a zombie; after an agent
        // restart the orphaned shims belong to init instead.
        RunningShims[process.Id] = process;
        process.EnableRaisingEvents = true;
        process.Exited += (_, _) =>
        {
            RunningShims.TryRemove(process.Id, out _);
            process.Dispose();
        };
        return process.Id;
    }

    /// <summary>True while the shim for <paramref name="id"/> with this pid still runs (and the pid was not reused).</summary>
    public static bool IsAlive(int pid, string id)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var state = stat[(stat.LastIndexOf(')') + 2)..].FirstOrDefault();
            if (state is 'Z' or 'X')
            {
                return false;
            }

            var argv = File.ReadAllText($"/proc/{pid}/cmdline").Split('\0');
            return argv.Contains(Name) && argv.Contains(id);
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    internal static string? FindOnPath(string program)
    {
        if (program.Contains('/'))
        {
            return File.Exists(program) ? program : null;
        }

        return (Environment.GetEnvironmentVariable("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin")
            .Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, program))
            .FirstOrDefault(File.Exists);
    }
}
