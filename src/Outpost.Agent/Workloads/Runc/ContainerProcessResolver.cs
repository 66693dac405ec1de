namespace Outpost.Agent.Workloads.Runc;

/// <summary>Applies Docker's rules to turn an image config plus overrides into one concrete process.</summary>
internal static class ContainerProcessResolver
{
    // Docker adds this when the image sets no PATH; many images rely on it.
    private const string DefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    public static ContainerProcess Resolve(WorkloadProcess process, string rootfs, string hostname)
    {
        var args = ResolveArgs(process);
        var users = RootfsUserDatabase.Load(rootfs);
        var (uid, gid, additionalGids, home) = ResolveUser(process.User ?? process.Image.User, users);
        var env = MergeEnv(process.Image.Env, process.Env);
        AddIfMissing(env, DefaultPath);
        AddIfMissing(env, "HOSTNAME=" + hostname);
        AddIfMissing(env, "HOME=" + home);
        var cwd = process.WorkingDirectory ?? process.Image.WorkingDirectory;
        if (string.IsNullOrEmpty(cwd))
        {
            cwd = "/";
        }
        else if (!cwd.StartsWith('/'))
        {
            throw new WorkloadSpecException($"The working directory '{cwd}' is not absolute; give a path that starts with '/'.");
        }

        return new ContainerProcess(args, env, cwd, uid, gid, additionalGids);
    }

    private static IReadOnlyList<string> ResolveArgs(WorkloadProcess process)
    {
        var entrypoint = process.EntrypointOverride ?? process.Image.Entrypoint;
        // An entrypoint override drops the image's cmd, as `docker run --entrypoint` does.
        var cmd = process.CommandOverride ?? (process.EntrypointOverride is null ? process.Image.Cmd : []);
        var args = entrypoint.Concat(cmd).ToList();
        if (args.Count == 0 || string.IsNullOrEmpty(args[0]))
        {
            throw new WorkloadSpecException(
                "The workload has no command: the image defines no entrypoint or cmd and the deployment overrides none. Set a command for the app.");
        }

        return args;
    }

    private static List<string> MergeEnv(IReadOnlyList<string> imageEnv, IReadOnlyList<string> overrides)
    {
        var merged = new List<string>();
        foreach (var entry in imageEnv.Concat(overrides))
        {
            var name = entry.Split('=', 2)[0];
            var existing = merged.FindIndex(e => e.Split('=', 2)[0] == name);
            if (existing >= 0)
            {
                merged[existing] = entry;
            }
            else
            {
                merged.Add(entry);
            }
        }

        return merged;
    }

    private static void AddIfMissing(List<string> env, string entry)
    {
        var name = entry.Split('=', 2)[0];
        if (!env.Any(e => e.Split('=', 2)[0] == name))
        {
            env.Add(entry);
        }
    }

    private static (int Uid, int Gid, IReadOnlyList<int> AdditionalGids, string Home) ResolveUser(
        string? user, RootfsUserDatabase users)
    {
        if (string.IsNullOrEmpty(user))
        {
            user = "0";
        }

        var parts = user.Split(':', 2);
        var userPart = parts[0];
        PasswdEntry? entry;
        int uid;
        if (int.TryParse(userPart, out uid))
        {
            entry = users.FindUser(e => e.Uid == uid);
        }
        else
        {
            entry = users.FindUser(e => e.Name == userPart)
                ?? throw new WorkloadSpecException(users.HasPasswd
                    ? $"The user '{userPart}' is not in the image's /etc/passwd; use a user the image defines or a numeric uid."
                    : $"The user '{userPart}' cannot be looked up because the image has no /etc/passwd; use a numeric uid[:gid].");
            uid = entry.Uid;
        }

        var gid = entry?.Gid ?? 0;
        if (parts.Length == 2)
        {
            var groupPart = parts[1];
            gid = int.TryParse(groupPart, out var numericGid)
                ? numericGid
                : users.FindGroupId(groupPart)
                    ?? throw new WorkloadSpecException(
                        $"The group '{groupPart}' is not in the image's /etc/group; use a group the image defines or a numeric gid.");
        }

        var additional = entry is null ? [] : users.SupplementaryGroupIds(entry.Name).Where(g => g != gid).ToList();
        return (uid, gid, additional, entry?.Home is { Length: > 0 } home ? home : "/");
    }
}
