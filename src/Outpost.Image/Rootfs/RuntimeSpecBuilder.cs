using System.Text.Json;
using System.Text.Json.Nodes;
using Outpost.Image.Spec;
using Outpost.Oci.Content;

namespace Outpost.Image.Rootfs;

/// <summary>
/// Builds a container bundle's <c>config.json</c> (OCI runtime spec) and <c>runtime.json</c>
/// (linuxkit's extras) from the image config overridden by the (label-merged) YAML entry.
/// </summary>
internal static class RuntimeSpecBuilder
{
    // Docker's and linuxkit's default capability set for a container that does not ask for more.
    private static readonly string[] DefaultCapabilities =
    [
        "CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_MKNOD",
        "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT",
    ];

    private static readonly string[] AllCapabilities =
    [
        "CAP_AUDIT_CONTROL", "CAP_AUDIT_READ", "CAP_AUDIT_WRITE", "CAP_BLOCK_SUSPEND", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
        "CAP_KILL", "CAP_LEASE", "CAP_LINUX_IMMUTABLE", "CAP_MAC_ADMIN", "CAP_MAC_OVERRIDE", "CAP_MKNOD", "CAP_NET_ADMIN",
        "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_RAW", "CAP_PERFMON", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP",
        "CAP_SETUID", "CAP_SYSLOG", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_CHROOT", "CAP_SYS_MODULE", "CAP_SYS_NICE",
        "CAP_SYS_PACCT", "CAP_SYS_PTRACE", "CAP_SYS_RAWIO", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG",
        "CAP_WAKE_ALARM",
    ];

    public static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static JsonObject BuildConfig(ContainerSpec spec, ImageConfig image, bool readOnly, IReadOnlyDictionary<string, int> containerIds)
    {
        var imageConfig = image.Config;
        var args = spec.Command ?? [.. imageConfig?.Entrypoint ?? [], .. imageConfig?.Cmd ?? []];
        if (args.Count == 0)
            throw new ImageBuildException($"'{spec.Name}' at {spec.Location} has nothing to run: its image '{spec.Image.Reference}' sets no Entrypoint or Cmd and the YAML gives no 'command'. Add a 'command:'.");

        var capabilities = Capabilities(spec);
        var process = new JsonObject
        {
            ["terminal"] = false,
            ["user"] = User(spec, imageConfig?.User, containerIds),
            ["args"] = Strings(args),
            ["env"] = Strings(MergeEnv(imageConfig?.Env, spec.Env)),
            ["cwd"] = spec.Cwd ?? (string.IsNullOrEmpty(imageConfig?.WorkingDir) ? "/" : imageConfig.WorkingDir),
            ["capabilities"] = new JsonObject
            {
                ["bounding"] = Strings(capabilities),
                ["effective"] = Strings(capabilities),
                ["permitted"] = Strings(capabilities),
                ["ambient"] = Strings(spec.Ambient ?? []),
            },
            ["noNewPrivileges"] = spec.NoNewPrivileges ?? false,
        };
        if (spec.Rlimits is { } rlimits) process["rlimits"] = new JsonArray(rlimits.Select(Rlimit).ToArray());
        if (spec.OomScoreAdj is { } oom) process["oomScoreAdj"] = oom;

        var linux = new JsonObject { ["namespaces"] = Namespaces(spec) };
        if (spec.MaskedPaths is { } masked) linux["maskedPaths"] = Strings(masked);
        if (spec.ReadonlyPaths is { } readonlyPaths) linux["readonlyPaths"] = Strings(readonlyPaths);
        if (spec.Resources is { } resources) linux["resources"] = resources.DeepClone();
        if (spec.Sysctl is { } sysctl) linux["sysctl"] = sysctl.DeepClone();
        if (spec.CgroupsPath is { } cgroups) linux["cgroupsPath"] = cgroups;
        if (spec.Devices is { } devices) linux["devices"] = devices.DeepClone();
        if (spec.UidMappings is { } uidMappings) linux["uidMappings"] = uidMappings.DeepClone();
        if (spec.GidMappings is { } gidMappings) linux["gidMappings"] = gidMappings.DeepClone();
        if (spec.RootfsPropagation is { } propagation) linux["rootfsPropagation"] = propagation;

        var config = new JsonObject
        {
            ["ociVersion"] = "1.0.2",
            ["process"] = process,
            ["root"] = new JsonObject { ["path"] = "rootfs", ["readonly"] = readOnly },
            ["mounts"] = Mounts(spec, readOnly),
            ["linux"] = linux,
        };
        if (spec.Hostname is { } hostname) config["hostname"] = hostname;
        if (spec.Annotations is { } annotations) config["annotations"] = annotations.DeepClone();
        return config;
    }

    /// <summary>linuxkit's runtime section, with the mounts that make <c>rootfs/</c> usable put first.</summary>
    public static JsonObject BuildRuntime(ContainerSpec spec, string bundlePath, bool readOnly)
    {
        var runtime = spec.Runtime?.DeepClone().AsObject() ?? new JsonObject();
        var mounts = new JsonArray();
        var root = "/" + bundlePath;
        if (readOnly)
        {
            // runc wants the root to be a mount point; a self bind-mount makes it one.
            mounts.Add(Mount($"{root}/rootfs", $"{root}/rootfs", "bind", "rbind", "ro"));
        }
        else
        {
            mounts.Add(Mount("tmpfs", $"{root}/tmp", "tmpfs", "nodev", "nosuid", "noexec"));
            mounts.Add(Mount("overlay", $"{root}/rootfs", "overlay",
                $"lowerdir={root}/lower", $"upperdir={root}/tmp/upper", $"workdir={root}/tmp/work"));
            runtime["mkdir"] = new JsonArray(JsonValue.Create($"{root}/tmp/upper"), JsonValue.Create($"{root}/tmp/work"));
        }
        if (runtime["mounts"] is JsonArray extra)
            foreach (var item in extra) mounts.Add(item?.DeepClone());
        runtime["mounts"] = mounts;
        return runtime;
    }

    private static IReadOnlyList<string> Capabilities(ContainerSpec spec)
    {
        IEnumerable<string> caps = spec.Capabilities is { } given
            ? given.Count == 1 && given[0] == "all" ? AllCapabilities : given
            : DefaultCapabilities;
        if (spec.CapabilitiesAdd is { } add) caps = caps.Concat(add.Contains("all") ? AllCapabilities : add);
        return caps.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
    }

    private static JsonObject User(ContainerSpec spec, string? imageUser, IReadOnlyDictionary<string, int> ids)
    {
        var (imageUid, imageGid) = ParseImageUser(imageUser);
        var user = new JsonObject
        {
            ["uid"] = ResolveId(spec.Uid, ids, spec, "uid") ?? imageUid,
            ["gid"] = ResolveId(spec.Gid, ids, spec, "gid") ?? imageGid,
        };
        if (spec.AdditionalGids is { } extra)
            user["additionalGids"] = new JsonArray(extra.Select(g => JsonValue.Create(ResolveId(g, ids, spec, "additionalGids") ?? 0)).ToArray());
        return user;
    }

    private static (int Uid, int Gid) ParseImageUser(string? user)
    {
        if (string.IsNullOrEmpty(user)) return (0, 0);
        var parts = user.Split(':');
        return (int.TryParse(parts[0], out var uid) ? uid : 0, parts.Length > 1 && int.TryParse(parts[1], out var gid) ? gid : 0);
    }

    /// <summary>A number, or another container's name, which linuxkit maps to that container's id.</summary>
    internal static int? ResolveId(string? value, IReadOnlyDictionary<string, int> ids, ContainerSpec spec, string field)
    {
        if (value is null) return null;
        if (int.TryParse(value, out var number)) return number;
        if (ids.TryGetValue(value, out var id)) return id;
        throw new ImageBuildException($"'{field}: {value}' of '{spec.Name}' at {spec.Location} is neither a number nor the name of a container in this image.");
    }

    private static IReadOnlyList<string> MergeEnv(IReadOnlyList<string>? image, IReadOnlyList<string>? yaml)
    {
        var result = new List<string>(image ?? []);
        foreach (var item in yaml ?? [])
        {
            var key = item.Split('=')[0];
            result.RemoveAll(e => e.Split('=')[0] == key);
            result.Add(item);
        }
        return result;
    }

    private static JsonArray Namespaces(ContainerSpec spec)
    {
        var namespaces = new JsonArray { new JsonObject { ["type"] = "mount" } };
        // Shared with the host by default: net, ipc, uts. pid is new unless "host".
        AddNamespace(namespaces, "pid", spec.Pid ?? "new", hostMeansShared: true);
        AddNamespace(namespaces, "network", spec.Net, hostMeansShared: true);
        AddNamespace(namespaces, "ipc", spec.Ipc, hostMeansShared: true);
        AddNamespace(namespaces, "uts", spec.Uts, hostMeansShared: true);
        AddNamespace(namespaces, "user", spec.Userns, hostMeansShared: true);
        return namespaces;
    }

    private static void AddNamespace(JsonArray namespaces, string type, string? value, bool hostMeansShared)
    {
        if (value is null || (hostMeansShared && value == "host")) return;
        var ns = new JsonObject { ["type"] = type };
        if (value != "new" && value != "none") ns["path"] = value;
        namespaces.Add(ns);
    }

    private static JsonArray Mounts(ContainerSpec spec, bool readOnly)
    {
        var mounts = new JsonArray
        {
            Mount("proc", "/proc", "proc", "nosuid", "nodev", "noexec", "relatime"),
            Mount("tmpfs", "/dev", "tmpfs", "nosuid", "strictatime", "mode=755", "size=65536k"),
            Mount("devpts", "/dev/pts", "devpts", "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"),
            Mount("sysfs", "/sys", "sysfs", readOnly ? ["nosuid", "noexec", "nodev", "ro"] : ["nosuid", "noexec", "nodev"]),
            Mount("cgroup", "/sys/fs/cgroup", "cgroup", "nosuid", "noexec", "nodev", "relatime", "ro"),
        };
        foreach (var tmpfs in spec.Tmpfs ?? [])
        {
            var parts = tmpfs.Split(':');
            mounts.Add(Mount("tmpfs", parts[0], "tmpfs", parts.Length > 1 ? parts[1].Split(',') : ["nosuid", "nodev"]));
        }
        foreach (var bind in (spec.Binds ?? []).Concat(spec.BindsAdd ?? []))
        {
            var parts = bind.Split(':');
            if (parts.Length < 2)
                throw new ImageBuildException($"bind '{bind}' of '{spec.Name}' at {spec.Location} must be SOURCE:DESTINATION[:OPTIONS].");
            var options = parts.Length > 2 ? parts[2].Split(',') : ["rw"];
            mounts.Add(Mount(parts[0], parts[1], "bind", ["rbind", .. options]));
        }
        foreach (var mount in spec.Mounts ?? []) mounts.Add(mount?.DeepClone());
        return mounts;
    }

    private static JsonObject Mount(string source, string destination, string type, params string[] options) => new()
    {
        ["destination"] = destination,
        ["type"] = type,
        ["source"] = source,
        ["options"] = Strings(options),
    };

    private static JsonObject Rlimit(string text)
    {
        var parts = text.Split(',');
        if (parts.Length != 3 || !ulong.TryParse(parts[1], out var soft) || !ulong.TryParse(parts[2], out var hard))
            throw new ImageBuildException($"rlimit '{text}' must be NAME,SOFT,HARD with numbers, e.g. nofile,1024,4096.");
        var name = parts[0].ToUpperInvariant();
        return new JsonObject { ["type"] = name.StartsWith("RLIMIT_", StringComparison.Ordinal) ? name : "RLIMIT_" + name, ["soft"] = soft, ["hard"] = hard };
    }

    private static JsonArray Strings(IEnumerable<string> values) => new(values.Select(v => JsonValue.Create(v)).ToArray<JsonNode?>());
}
