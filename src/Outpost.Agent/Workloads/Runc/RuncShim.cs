using System.Diagnostics;

namespace Outpost.Agent.Workloads.Runc;

/// <summary>
/// Starts `runc run` in the foreground under a tiny /bin/sh parent that outlives the agent.
/// The shell opens console.log with O_APPEND (>>) and hands it to runc, and so to the app, as
/// stdout and stderr with stdin on /dev/null: the app never writes into a pipe the agent must drain.
/// runc stays the container's parent, so when the app ends the shell records its exit status.
/// </summary>
internal static class RuncShim
{
    /// <summary>argv[0] of the shell; lets the driver recognise its shims among host processes.</summary>
    public const string Name = "outpost-shim";

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<int, Process> RunningShims = new();

    // umask 077: the console log and exit status are the agent's files, like everything in its state directory.
    private const string Script = """
        umask 077
        exec </dev/null >>"$1" 2>&1
        exit_file=$2
        shift 2
        "$@"
        echo $? >"$exit_file"
        """;

    public static int Start(RuncCli runc, WorkloadPaths paths, string id)
    {
        // setsid puts the shim in its own session: a Ctrl-C or SIGHUP aimed at the agent does not reach the app.
        var setsid = FindOnPath("setsid");
        var startInfo = new ProcessStartInfo(setsid ?? "/bin/sh") { UseShellExecute = false };
        var args = startInfo.ArgumentList;
        if (setsid is not null)
        {
            args.Add("/bin/sh");
        }

        foreach (var arg in (string[])
            [
                "-c", Script, Name, paths.ConsoleLog, paths.ExitStatus,
                runc.RuncPath, "--root", runc.RuncRoot, "--log", paths.RuntimeLog, "--log-format", "json",
                "run", "--bundle", paths.Bundle, id,
            ])
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
