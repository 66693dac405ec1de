// Times `outpost image build` of examples/outpost.yml end to end (warm inputs, every format), then a
// rebuild after changing one file, and compares both with `cp` of the same output bytes on the same disk,
// which is the floor for any tool that has to write those bytes.
using System.Diagnostics;
using System.Globalization;
using Outpost.Image.Build;
using Outpost.Image.Layouts;

var repo = FindRepoRoot();
var work = Directory.CreateTempSubdirectory("outpost-bench-imagebuild-").FullName;
try
{
    var spec = Path.Combine(work, "outpost.yml");
    File.Copy(Path.Combine(repo, "examples", "outpost.yml"), spec);
    await DemoInputs.CreateAsync(Path.Combine(work, "images"), null, CancellationToken.None);

    Task<BuildSummary> Build(string output) => ImageBuilder.BuildAsync(new ImageBuildOptions
    {
        SpecPath = spec,
        OutputDirectory = Path.Combine(work, output),
        Formats = OutputFormats.All,
        SourceDateEpoch = 1700000000,
    }, null, CancellationToken.None);

    await Build("warmup"); // JIT and page cache, so the timed runs measure the steady state
    var first = await TimeAsync(() => Build("first"));
    File.WriteAllText(spec, File.ReadAllText(spec).Replace("Welcome to Outpost", "Welcome to Outpost, rebuilt"));
    var rebuild = await TimeAsync(() => Build("rebuild"));
    var bytes = first.Result.Artifacts.Sum(a => a.SizeBytes);
    var copy = await TimeAsync(() => CopyAsync(Path.Combine(work, "first"), Path.Combine(work, "copy")));

    Console.WriteLine($"full build (warm inputs): {Seconds(first.Elapsed)} s for {bytes / 1048576.0:F1} MiB of artifacts");
    foreach (var step in first.Result.Steps) Console.WriteLine($"  {step.Step,-14} {Seconds(step.Duration)} s");
    Console.WriteLine($"rebuild after one file changed: {Seconds(rebuild.Elapsed)} s");
    Console.WriteLine($"cp of the same output bytes: {Seconds(copy.Elapsed)} s");
    Console.WriteLine($"ratio build/cp: {first.Elapsed / copy.Elapsed:F1}x, rebuild/cp: {rebuild.Elapsed / copy.Elapsed:F1}x");
}
finally
{
    Directory.Delete(work, recursive: true);
}

static async Task<(T Result, TimeSpan Elapsed)> TimeAsync<T>(Func<Task<T>> action)
{
    var watch = Stopwatch.StartNew();
    var result = await action();
    return (result, watch.Elapsed);
}

static async Task<int> CopyAsync(string from, string to)
{
    // --sparse=never: the builder writes every byte of its outputs too, so the copy must as well.
    using var process = Process.Start(new ProcessStartInfo("cp", ["-r", "--sparse=never", from, to]))!;
    await process.WaitForExitAsync();
    return process.ExitCode == 0 ? 0 : throw new InvalidOperationException("cp failed");
}

static string Seconds(TimeSpan t) => t.TotalSeconds.ToString("F2", CultureInfo.InvariantCulture);

static string FindRepoRoot()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        if (File.Exists(Path.Combine(dir.FullName, "Outpost.slnx"))) return dir.FullName;
    throw new InvalidOperationException("run from inside the repository");
}
