namespace Outpost.Agent.Workloads.Runc;

/// <summary>The users and groups an image defines in its /etc/passwd and /etc/group.</summary>
internal sealed class RootfsUserDatabase
{
    private readonly List<string[]> _users;
    private readonly List<string[]> _groups;

    private RootfsUserDatabase(List<string[]> users, List<string[]> groups)
    {
        _users = users;
        _groups = groups;
    }

    public bool HasPasswd => _users.Count > 0;

    public static RootfsUserDatabase Load(string rootfs) =>
        new(ReadColonFile(rootfs, "/etc/passwd"), ReadColonFile(rootfs, "/etc/group"));

    /// <summary>passwd fields: name, password, uid, gid, gecos, home, shell.</summary>
    public PasswdEntry? FindUser(Func<PasswdEntry, bool> match) =>
        _users.Where(fields => fields.Length >= 7 && int.TryParse(fields[2], out _) && int.TryParse(fields[3], out _))
            .Select(fields => new PasswdEntry(fields[0], int.Parse(fields[2]), int.Parse(fields[3]), fields[5]))
            .FirstOrDefault(match);

    public int? FindGroupId(string name) =>
        _groups.Where(fields => fields.Length >= 3 && fields[0] == name && int.TryParse(fields[2], out _))
            .Select(fields => (int?)int.Parse(fields[2]))
            .FirstOrDefault();

    /// <summary>Groups that list the user as a member, as `docker run` adds them.</summary>
    public IReadOnlyList<int> SupplementaryGroupIds(string userName) =>
        _groups.Where(fields => fields.Length >= 4 && int.TryParse(fields[2], out _)
                && fields[3].Split(',', StringSplitOptions.RemoveEmptyEntries).Contains(userName))
            .Select(fields => int.Parse(fields[2]))
            .Distinct()
            .ToList();

    private static List<string[]> ReadColonFile(string rootfs, string containerPath)
    {
        var hostPath = RootfsPath.Resolve(rootfs, containerPath);
        if (hostPath is null || !File.Exists(hostPath))
        {
            return [];
        }

        return File.ReadLines(hostPath)
            .Where(line => line.Length > 0 && !line.StartsWith('#'))
            .Select(line => line.Split(':'))
            .ToList();
    }
}

internal sealed record PasswdEntry(string Name, int Uid, int Gid, string Home);
