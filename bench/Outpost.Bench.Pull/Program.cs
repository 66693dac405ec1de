using System.Diagnostics;
using Outpost.Bench.Pull;
using Outpost.Oci.Extraction;
using Outpost.Oci.Layout;
using Outpost.Oci.References;
using Outpost.Oci.Registry;
using Outpost.Oci.Transfer;

// Pull + unpack of the same multi-layer image from a local docker-registry: Outpost.Oci (RegistryClient, ImagePuller,
// ImageUnpacker) against `skopeo copy docker://… oci:DIR` + `umoci unpack`. Both start cold (empty target) each round.
// Usage: Outpost.Bench.Pull [layers=5] [mib-per-layer=10] [rounds=3]
var layers = args.Length > 0 ? int.Parse(args[0]) : 5;
var mibPerLayer = args.Length > 1 ? int.Parse(args[1]) : 10;
var rounds = args.Length > 2 ? int.Parse(args[2]) : 3;
var work = Directory.CreateTempSubdirectory("outpost-bench-pull-").FullName;
var (registry, host) = await Tools.StartRegistryAsync(work);
try
{
    var source = Path.Combine(work, "source");
    var compressed = await BenchImage.WriteAsync(source, "bench", layers, mibPerLayer * 1024 * 1024, CancellationToken.None);
    var reference = ImageReference.Parse($"{host}/bench/pull:1");
    using (var pushClient = new RegistryClient())
    {
        await new ImagePusher(pushClient).PushAsync(OciLayout.Open(source), "bench", reference);
    }

    Console.WriteLine($"Image: {layers} layers, {mibPerLayer} MiB uncompressed each, {compressed / (1024.0 * 1024):0.0} MiB compressed; {rounds} rounds, best of each.");
    var ours = new List<double>();
    var theirs = new List<double>();
    for (var round = 0; round < rounds; round++)
    {
        var dir = Path.Combine(work, $"round{round}");
        ours.Add(await TimeAsync(async () =>
        {
            using var client = new RegistryClient();
            var layout = await OciLayout.CreateAsync(Path.Combine(dir, "ours-layout"));
            var image = await new ImagePuller(client).PullAsync(reference, layout);
            await ImageUnpacker.UnpackAsync(layout, image, Path.Combine(dir, "ours-rootfs"), new ExtractionPolicy { ApplyOwnership = false });
        }));
        theirs.Add(await TimeAsync(async () =>
        {
            await Tools.RunAsync("skopeo", "copy", "--quiet", "--src-tls-verify=false", $"docker://{reference}", $"oci:{Path.Combine(dir, "skopeo-layout")}:bench");
            await Tools.RunAsync("umoci", "unpack", "--rootless", "--image", $"{Path.Combine(dir, "skopeo-layout")}:bench", Path.Combine(dir, "umoci-bundle"));
        }));
        Directory.Delete(dir, recursive: true);
    }

    Console.WriteLine($"outpost (pull + unpack):       {ours.Min(),8:0} ms   (rounds: {string.Join(", ", ours.Select(t => t.ToString("0")))})");
    Console.WriteLine($"skopeo copy + umoci unpack:    {theirs.Min(),8:0} ms   (rounds: {string.Join(", ", theirs.Select(t => t.ToString("0")))})");
    Console.WriteLine($"ratio outpost / skopeo+umoci:  {ours.Min() / theirs.Min(),8:0.00}");
}
finally
{
    registry.Kill(entireProcessTree: true);
    registry.WaitForExit();
    Directory.Delete(work, recursive: true);
}

static async Task<double> TimeAsync(Func<Task> action)
{
    var watch = Stopwatch.StartNew();
    await action();
    return watch.Elapsed.TotalMilliseconds;
}
