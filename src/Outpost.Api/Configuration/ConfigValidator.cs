using Org.Lfedge.Eve.Config;

namespace Outpost.Api.Configuration;

/// <summary>The kind of a config object that can be refused on its own.</summary>
public enum ConfigObjectKind
{
    Datastore,
    ContentTree,
    Volume,
    App,
}

/// <summary>One refused object: what it is, its id as given (canonical when it parsed) and why.</summary>
public sealed record ObjectProblem(ConfigObjectKind Kind, string Id, string DisplayName, string Reason);

/// <summary>
/// What is wrong with a config: <see cref="ConfigErrors"/> make the whole config unusable (wrong device, too many
/// objects); <see cref="Objects"/> are objects that cannot be used while the rest can. Objects that depend on a
/// refused object are refused too, naming it.
/// </summary>
public sealed record ConfigValidation(IReadOnlyList<string> ConfigErrors, IReadOnlyList<ObjectProblem> Objects)
{
    public bool IsValid => ConfigErrors.Count == 0 && Objects.Count == 0;

    /// <summary>Every problem as one line each, for an error message.</summary>
    public IEnumerable<string> Describe() =>
        ConfigErrors.Concat(Objects.Select(o => o.Reason));

    public bool IsRefused(ConfigObjectKind kind, string id) =>
        Objects.Any(o => o.Kind == kind && string.Equals(o.Id, id, StringComparison.OrdinalIgnoreCase));
}

/// <summary>
/// Checks an EdgeDevConfig against <see cref="ConfigBounds"/> and its own references: object ids are UUIDs (they
/// become directory names on the device), unique per kind, and every reference resolves. The controller runs it
/// before storing a config; the agent runs it again on what it receives. Pure: no I/O.
/// </summary>
public static class ConfigValidator
{
    /// <summary>The canonical form of an object id (lower-case, 36 characters), or null when it is not a UUID.</summary>
    public static string? CanonicalId(string? id) =>
        id is { Length: 36 } && Guid.TryParseExact(id, "D", out var guid) ? guid.ToString("D") : null;

    public static ConfigValidation Validate(EdgeDevConfig config, string? expectedDeviceUuid = null)
    {
        var errors = new List<string>();
        var problems = new List<ObjectProblem>();
        CheckDevice(config, expectedDeviceUuid, errors);
        CheckCount(errors, config.Apps.Count, ConfigBounds.MaxApps, "apps");
        CheckCount(errors, config.Volumes.Count, ConfigBounds.MaxVolumes, "volumes");
        CheckCount(errors, config.ContentInfo.Count, ConfigBounds.MaxContentTrees, "content trees");
        CheckCount(errors, config.Datastores.Count, ConfigBounds.MaxDatastores, "datastores");
        CheckCount(errors, config.ConfigItems.Count, ConfigBounds.MaxConfigItems, "config items");
        if (errors.Count > 0)
        {
            // Counts out of bounds: do not spend time on ten thousand objects one by one.
            return new ConfigValidation(errors, []);
        }

        var datastores = CheckIds(config.Datastores, ConfigObjectKind.Datastore, d => d.Id, d => d.Fqdn, "datastore", problems, (d, say) =>
        {
            if (d.DsCertPEM.Sum(c => (long)c.Length) > ConfigBounds.MaxDatastoreCertificatesBytes)
            {
                say($"its dsCertPEM certificates exceed {ConfigBounds.MaxDatastoreCertificatesBytes} bytes");
            }
        });
        var trees = CheckIds(config.ContentInfo, ConfigObjectKind.ContentTree, c => c.Uuid, c => c.DisplayName, "content tree", problems, (c, say) =>
        {
            if (c.URL.Length > ConfigBounds.MaxUrlLength)
            {
                say($"its URL is {c.URL.Length} characters; at most {ConfigBounds.MaxUrlLength}");
            }

            var ids = c.DsIdsList.Count > 0 ? c.DsIdsList.ToList() : c.DsId is { Length: > 0 } single ? [single] : [];
            foreach (var id in ids)
            {
                var canonical = CanonicalId(id);
                if (canonical is null || !datastores.ContainsKey(canonical))
                {
                    say(ProblemOf(problems, ConfigObjectKind.Datastore, canonical ?? id) is { } refused
                        ? $"its datastore {id} is refused ({refused})"
                        : $"Unknown datastore {id}: the config has no DatastoreConfig with that id");
                }
            }
        });
        var volumes = CheckIds(config.Volumes, ConfigObjectKind.Volume, v => v.Uuid, v => v.DisplayName, "volume", problems, (v, say) =>
        {
            if (v.Maxsizebytes < 0)
            {
                say($"its maxsizebytes is negative ({v.Maxsizebytes})");
            }

            if (v.GenerationCount < 0)
            {
                say($"its generationCount is negative ({v.GenerationCount})");
            }

            if (v.Origin?.Type == VolumeContentOriginType.VcotDownload)
            {
                var tree = v.Origin.DownloadContentTreeID;
                var canonical = CanonicalId(tree);
                if (canonical is null || !trees.ContainsKey(canonical))
                {
                    say(ProblemOf(problems, ConfigObjectKind.ContentTree, canonical ?? tree) is { } refused
                        ? $"its content tree {tree} is refused ({refused})"
                        : $"its content tree {(tree.Length > 0 ? tree : "(none)")} is not in the config");
                }
            }
        });
        CheckIds(config.Apps, ConfigObjectKind.App, a => a.Uuidandversion?.Uuid ?? "", a => a.Displayname, "app", problems, (a, say) =>
        {
            if (a.Displayname.Length > ConfigBounds.MaxNameLength)
            {
                say($"its displayname is {a.Displayname.Length} characters; at most {ConfigBounds.MaxNameLength}");
            }

            if (a.UserData.Length > ConfigBounds.MaxUserDataBytes)
            {
                say($"its userData is {a.UserData.Length} bytes; at most {ConfigBounds.MaxUserDataBytes} bytes are accepted");
            }

            if (a.Fixedresources is { } resources)
            {
                if (resources.Vcpus > ConfigBounds.MaxVcpus)
                {
                    say($"it asks for {resources.Vcpus} vCPUs; at most {ConfigBounds.MaxVcpus}");
                }
            }

            if (a.VolumeRefList.Count > ConfigBounds.MaxVolumesPerApp)
            {
                say($"it has {a.VolumeRefList.Count} volumes; at most {ConfigBounds.MaxVolumesPerApp}");
            }

            foreach (var reference in a.VolumeRefList)
            {
                var canonical = CanonicalId(reference.Uuid);
                if (canonical is null || !volumes.ContainsKey(canonical))
                {
                    say(ProblemOf(problems, ConfigObjectKind.Volume, canonical ?? reference.Uuid) is { } refused
                        ? $"its volume {reference.Uuid} is refused ({refused})"
                        : $"its volume {(reference.Uuid.Length > 0 ? reference.Uuid : "(none)")} is not in the config");
                }
            }
        });
        return new ConfigValidation(errors, problems);
    }

    private static void CheckDevice(EdgeDevConfig config, string? expectedDeviceUuid, List<string> errors)
    {
        if (expectedDeviceUuid is null)
        {
            return;
        }

        var id = config.Id?.Uuid ?? "";
        if (CanonicalId(id) is not { } canonical || canonical != CanonicalId(expectedDeviceUuid))
        {
            errors.Add($"The config is for device '{id}', not for this device {expectedDeviceUuid}.");
        }
    }

    private static void CheckCount(List<string> errors, int count, int max, string what)
    {
        if (count > max)
        {
            errors.Add($"The config has {count} {what}; a device takes at most {max}.");
        }
    }

    /// <summary>
    /// Checks each object's id (a UUID, unique) and runs <paramref name="check"/> on it. Returns the accepted objects by
    /// canonical id.
    /// </summary>
    private static Dictionary<string, T> CheckIds<T>(
        IEnumerable<T> items,
        ConfigObjectKind kind,
        Func<T, string> id,
        Func<T, string> name,
        string what,
        List<ObjectProblem> problems,
        Action<T, Action<string>> check)
    {
        var accepted = new Dictionary<string, T>(StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var item in items)
        {
            var raw = id(item);
            var display = name(item);
            var label = display.Length > 0 ? $"{what} '{Shorten(display)}' ({Shorten(raw)})" : $"{what} {Shorten(raw)}";
            var canonical = CanonicalId(raw);
            if (canonical is null)
            {
                problems.Add(new ObjectProblem(kind, raw, display,
                    $"The {label} is refused: its id '{Shorten(raw)}' is not a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)."));
                continue;
            }

            if (!seen.Add(canonical))
            {
                problems.Add(new ObjectProblem(kind, canonical, display, $"The {label} is refused: another {what} has the same id."));
                accepted.Remove(canonical);
                continue;
            }

            var reasons = new List<string>();
            check(item, reasons.Add);
            if (reasons.Count > 0)
            {
                problems.Add(new ObjectProblem(kind, canonical, display, $"The {label} is refused: {string.Join("; ", reasons)}."));
                continue;
            }

            accepted[canonical] = item;
        }

        return accepted;
    }

    private static string? ProblemOf(List<ObjectProblem> problems, ConfigObjectKind kind, string id) =>
        problems.FirstOrDefault(p => p.Kind == kind && string.Equals(p.Id, id, StringComparison.OrdinalIgnoreCase))?.Reason;

    // Hostile ids and names can be huge; a reason quotes only their start.
    private static string Shorten(string text) => text.Length <= 80 ? text : text[..77] + "...";
}
