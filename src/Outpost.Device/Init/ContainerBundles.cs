using System.Text.Json.Nodes;

namespace Outpost.Device.Init;

/// <summary>
/// The linuxkit containers the image builder put under /containers: <c>onboot/NNN-name</c> run one after another
/// to completion, <c>services/name</c> run for as long as the device is up — each under runc from its real
/// <c>config.json</c>. The image is read-only, so each container gets a runtime bundle in /run/outpost/bundles:
/// its config with the root pointed at an overlay of the image's rootfs (or linuxkit's <c>lower</c>) and a tmpfs,
/// where runc can create its mount points; a container whose config says <c>readonly</c> still gets a read-only root.
/// </summary>
internal static class ContainerBundles
{
    public const string ImageRoot = "/containers";
    private const string RuntimeRoot = "/run/outpost/bundles";

    public static IReadOnlyList<string> Find(string section) =>
        Directory.Exists(Path.Combine(ImageRoot, section))
            ? [.. Directory.EnumerateDirectories(Path.Combine(ImageRoot, section)).Where(d => File.Exists(Path.Combine(d, "config.json"))).Order(StringComparer.Ordinal)]
            : [];

    /// <summary>Makes the runtime bundle for an image bundle and returns the runc invocation that runs it.</summary>
    public static ServiceDefinition Prepare(string imageBundle, string section, bool oneShot)
    {
        var name = Path.GetFileName(imageBundle);
        var id = $"{section}-{name}";
        var runtime = Path.Combine(RuntimeRoot, id);
        Directory.CreateDirectory(runtime);
        var scratch = Path.Combine(runtime, "scratch");
        Directory.CreateDirectory(scratch);
        Native.Mount("tmpfs", scratch, "tmpfs", Native.MsNodev, "mode=0755");
        Directory.CreateDirectory(Path.Combine(scratch, "upper"));
        Directory.CreateDirectory(Path.Combine(scratch, "work"));
        var merged = Path.Combine(runtime, "rootfs");
        Directory.CreateDirectory(merged);
        var lower = Directory.Exists(Path.Combine(imageBundle, "lower")) ? Path.Combine(imageBundle, "lower") : Path.Combine(imageBundle, "rootfs");
        Native.Mount("overlay", merged, "overlay", 0, $"lowerdir={lower},upperdir={scratch}/upper,workdir={scratch}/work");

        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(imageBundle, "config.json")))!.AsObject();
        var root = config["root"] as JsonObject ?? [];
        root["path"] = merged;
        config["root"] = root;
        File.WriteAllText(Path.Combine(runtime, "config.json"), config.ToJsonString());

        return new ServiceDefinition(id, "runc", ["run", "--bundle", runtime, id])
        {
            OneShot = oneShot,
            Stop = async ct =>
            {
                await Tools.RunAsync("runc", ["kill", id, "TERM"], ct);
            },
        };
    }

    /// <summary>Removes what runc keeps about a container that ended, so the next start under the same id works.</summary>
    public static Task DeleteAsync(string id) => Tools.RunAsync("runc", "delete", "--force", id);
}
