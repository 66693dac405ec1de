using Outpost.Image.Layouts;
using Outpost.Oci.Layout;

namespace Outpost.Cli.Demo;

/// <summary>
/// The demo's app image, made offline from Debian's busybox-static: /bin/busybox, a few applet links, and an entrypoint
/// that prints a numbered greeting every 2 s so its console log is easy to follow.
/// </summary>
internal static class DemoSampleImage
{
    public const string Repository = "outpost/hello";
    public const string Tag = "1";
    public const string Greeting = "hello from outpost";
    public const string BusyboxPath = "/bin/busybox";

    private static readonly string[] Applets = ["sh", "echo", "sleep", "cat", "ls", "date", "env", "ps", "true"];

    public static bool CanBuild => File.Exists(BusyboxPath);

    /// <summary>Writes the image into the controller's registry layout unless it is already there (re-runs reuse it).</summary>
    public static async Task EnsureAsync(string registryLayout, CancellationToken ct)
    {
        var name = $"{Repository}:{Tag}";
        if (File.Exists(Path.Combine(registryLayout, "index.json"))
            && (await OciLayout.Open(registryLayout).ReadIndexAsync(ct)).Manifests.Any(m => m.RefName == name))
        {
            return;
        }

        var builder = new OciLayoutBuilder().AddHostFile("bin/busybox", BusyboxPath, 0b111_101_101);
        foreach (var applet in Applets)
        {
            builder.AddSymlink($"bin/{applet}", "busybox");
        }

        builder.AddDirectory("tmp", 0b111_111_111);
        builder.Env = ["PATH=/bin"];
        builder.Entrypoint = ["/bin/sh", "-c", $"n=0; while true; do n=$((n+1)); echo \"{Greeting} $n\"; sleep 2; done"];
        await builder.WriteAsync(registryLayout, name, ct);
    }
}
