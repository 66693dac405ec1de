using Outpost.Image.Build;
using Outpost.Image.Layouts;

namespace Outpost.Cli.Lab;

/// <summary>
/// The image lab devices boot when no --image is given: the repository's example (examples/outpost.yml, embedded in
/// this binary) built as `outpost image example-inputs` + `outpost image build --format raw` would, into the lab's
/// image/ folder, and reused once built. Its CONFIG partition stays empty: each device's copy gets its own.
/// </summary>
internal static class LabImage
{
    private const string SpecResource = "Outpost.Cli.Lab.example-outpost.yml";

    /// <summary>The path of live.raw, built first unless a previous build left it.</summary>
    public static async Task<string> EnsureAsync(string labDirectory, IProgress<BuildProgress>? progress, CancellationToken ct)
    {
        var output = Path.Combine(labDirectory, "image");
        var liveRaw = Path.Combine(output, ImageBuilder.LiveRaw);
        if (File.Exists(liveRaw))
        {
            return liveRaw;
        }

        // Built beside its final place and moved there whole, so an interrupted build is never taken for a finished one.
        var partial = output + ".partial";
        if (Directory.Exists(partial))
        {
            Directory.Delete(partial, recursive: true);
        }

        var inputs = Directory.CreateDirectory(Path.Combine(partial, "inputs")).FullName;
        var spec = Path.Combine(inputs, "outpost.yml");
        await using (var resource = typeof(LabImage).Assembly.GetManifestResourceStream(SpecResource)
            ?? throw new InvalidOperationException($"{SpecResource} is not embedded in the outpost binary"))
        await using (var file = File.Create(spec))
        {
            await resource.CopyToAsync(file, ct);
        }

        var said = new Progress<string>(line => progress?.Report(new BuildProgress("inputs", line)));
        await DemoInputs.CreateAsync(Path.Combine(inputs, "images"), sources: null, ct, said);
        await ImageBuilder.BuildAsync(new ImageBuildOptions
        {
            SpecPath = spec,
            OutputDirectory = partial,
            Formats = OutputFormats.Raw,
            Version = typeof(LabImage).Assembly.GetName().Version?.ToString(3) ?? "0.0.0-dev",
            ConfigWrittenLater = true,
            DeviceBinary = c => Images.DeviceBinaryLocator.LocateAsync(null, said, c),
        }, progress, ct);
        Directory.Move(partial, output);
        return liveRaw;
    }
}
