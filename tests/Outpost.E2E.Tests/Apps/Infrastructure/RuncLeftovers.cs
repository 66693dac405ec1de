namespace Outpost.E2E.Tests.Apps.Infrastructure;

/// <summary>
/// Containers (and their overlay rootfs mounts) outlive a killed agent by design, so a test run must remove them
/// itself: every runc root under the agent's state folder is listed and its containers deleted with --force, then
/// whatever is still mounted below the folder is detached.
/// </summary>
public static class RuncLeftovers
{
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
}
