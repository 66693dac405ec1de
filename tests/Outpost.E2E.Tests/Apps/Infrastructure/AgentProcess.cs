namespace Outpost.E2E.Tests.Apps.Infrastructure;

/// <summary>Finds the agent process itself (not its children) so a test can SIGKILL it alone, as an OOM kill would.</summary>
public static class AgentProcess
{
    public static int? FindPid(string stateDirectory)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }

            string[] arguments;
            try
            {
                arguments = File.ReadAllText(Path.Combine(dir, "cmdline")).Split('\0');
            }
            catch (IOException)
            {
                continue;
            }
            catch (UnauthorizedAccessException)
            {
                continue;
            }

            var state = Array.IndexOf(arguments, "--state");
            if (arguments.Contains("agent") && state >= 0 && state + 1 < arguments.Length && arguments[state + 1] == stateDirectory)
            {
                return pid;
            }
        }

        return null;
    }

    /// <summary>SIGKILL to the agent process only, then wait until the daemon handle sees it gone.</summary>
    public static async Task KillAloneAsync(string stateDirectory, OutpostDaemon daemon)
    {
        var pid = FindPid(stateDirectory) ?? throw new InvalidOperationException($"no agent process with --state {stateDirectory}");
        Assert.Equal(0, NativeSignals.Kill(pid, 9));
        await Eventually.TrueAsync(() => Task.FromResult(daemon.HasExited), TimeSpan.FromSeconds(20), "the killed agent to exit");
    }
}
