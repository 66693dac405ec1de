namespace Outpost.E2E.Tests.Apps.Infrastructure;

/// <summary>
/// Containers (and their overlay rootfs mounts) outlive a killed agent by design, so a test run must remove them
/// itself: every runc root under the agent's state folder is listed and its containers deleted with --force, then
/// whatever is still mounted below the folder is detached. VMs outlive it as well: a QEMU whose command line names
/// the folder is killed.
/// </summary>
public static class RuncLeftovers
{
    /// <summary>Containers still running under the state folder's runc roots, and shim processes still alive for it.</summary>
    public static async Task<IReadOnlyList<string>> RunningAsync(string stateDirectory)
    {
        var running = new List<string>();
        if (!Directory.Exists(stateDirectory))
        {
            return running;
        }

        foreach (var root in Directory.EnumerateDirectories(stateDirectory, "runc", SearchOption.AllDirectories))
        {
            var listing = await ExternalTools.RunAsync("runc", "--root", root, "list", "--format", "json");
            if (System.Text.Json.JsonDocument.Parse(string.IsNullOrWhiteSpace(listing) ? "[]" : listing).RootElement is { ValueKind: System.Text.Json.JsonValueKind.Array } list)
            {
                running.AddRange(list.EnumerateArray().Where(c => c.GetProperty("status").GetString() == "running").Select(c => "container " + c.GetProperty("id").GetString()));
            }
        }

        foreach (var dir in Directory.EnumerateDirectories("/proc").Where(d => int.TryParse(Path.GetFileName(d), out _)))
        {
            try
            {
                var commandLine = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
                if (commandLine.Contains(stateDirectory, StringComparison.Ordinal) && Kind(commandLine) is { } kind)
                {
                    running.Add(kind + " " + commandLine);
                }
            }
            catch (IOException)
            {
            }
        }

        return running;
    }

    public static async Task RemoveAsync(string stateDirectory)
    {
        if (!Directory.Exists(stateDirectory))
        {
            return;
        }

        foreach (var root in Directory.EnumerateDirectories(stateDirectory, "runc", SearchOption.AllDirectories))
        {
            string listing;
            try
            {
                listing = await ExternalTools.RunAsync("runc", "--root", root, "list", "-q");
            }
            catch (InvalidOperationException)
            {
                continue;
            }

            foreach (var id in listing.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                try
                {
                    await ExternalTools.RunAsync("runc", "--root", root, "delete", "--force", id);
                }
                catch (InvalidOperationException)
                {
                    // Already gone between list and delete.
                }
            }
        }

        foreach (var dir in Directory.EnumerateDirectories("/proc").Where(d => int.TryParse(Path.GetFileName(d), out _)))
        {
            try
            {
                var commandLine = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
                if (commandLine.Contains(stateDirectory, StringComparison.Ordinal) && Kind(commandLine) == "qemu")
                {
                    using var process = System.Diagnostics.Process.GetProcessById(int.Parse(Path.GetFileName(dir), System.Globalization.CultureInfo.InvariantCulture));
                    process.Kill();
                    await process.WaitForExitAsync();
                }
            }
            catch (Exception e) when (e is IOException or ArgumentException or InvalidOperationException)
            {
                // Gone already.
            }
        }

        var prefix = stateDirectory.TrimEnd('/') + "/";
        var mounts = (await File.ReadAllLinesAsync("/proc/self/mounts"))
            .Select(line => line.Split(' ')[1])
            .Where(mountPoint => mountPoint.StartsWith(prefix, StringComparison.Ordinal))
            .OrderByDescending(mountPoint => mountPoint.Length);
        foreach (var mountPoint in mounts)
        {
            await ExternalTools.RunAsync("umount", "-l", mountPoint);
        }
    }

    // The shim's own command line names QEMU too (it is the command the shim runs), so the shim is checked first.
    private static string? Kind(string commandLine) =>
        commandLine.Contains("outpost-shim", StringComparison.Ordinal) ? "shim"
        : commandLine.Contains("qemu-system", StringComparison.Ordinal) ? "qemu"
        : null;
}
