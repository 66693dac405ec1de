// Times the device image (examples/outpost.yml) cold and warm: the inputs (mmdebstrap into an empty cache, then
// from the cache), the Native AOT device binary, then `outpost image build` end to end (every format), a rebuild
// after changing one file, and `cp` of the same output bytes on the same disk, the floor for any tool that has to
// write those bytes. Prints the image sizes too.
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
    var cache = Path.Combine(work, "debian-cache");
    var coldInputs = await TimeAsync(async () =>
    {
        await DemoInputs.CreateAsync(Path.Combine(work, "images-cold"), new DemoInputSources { DebianBaseCache = cache }, CancellationToken.None);
        return 0;
    });
    var warmInputs = await TimeAsync(async () =>
    {
        await DemoInputs.CreateAsync(Path.Combine(work, "images"), new DemoInputSources { DebianBaseCache = cache }, CancellationToken.None);
        return 0;
    });
    var device = Path.Combine(work, "device");
    var publish = await TimeAsync(async () =>
    {
        using var process = Process.Start(new ProcessStartInfo("dotnet", ["publish", Path.Combine(repo, "src", "Outpost.Device"), "-c", "Release", "-o", device, "-v", "q", "-nologo"]))!;
        await process.WaitForExitAsync();
        return process.ExitCode == 0 ? 0 : throw new InvalidOperationException("dotnet publish of the device binary failed");
    });
    Console.WriteLine($"inputs cold (mmdebstrap, empty cache): {Seconds(coldInputs.Elapsed)} s; warm (cached): {Seconds(warmInputs.Elapsed)} s");
    Console.WriteLine($"device binary (Native AOT publish): {Seconds(publish.Elapsed)} s, {new FileInfo(Path.Combine(device, "outpost-device")).Length / 1048576.0:F1} MiB");

    Task<BuildSummary> Build(string output) => ImageBuilder.BuildAsync(new ImageBuildOptions
    {
        SpecPath = spec,
        OutputDirectory = Path.Combine(work, output),
        Formats = OutputFormats.All,
        SourceDateEpoch = 1700000000,
        ConfigWrittenLater = true,
        DeviceBinary = _ => Task.FromResult(Path.Combine(device, "outpost-device")),
    }, null, CancellationToken.None);

    await Build("warmup"); // JIT and page cache, so the timed runs measure the steady state
    var first = await TimeAsync(() => Build("first"));
    File.WriteAllText(spec, File.ReadAllText(spec).Replace("Welcome to Outpost", "Welcome to Outpost, rebuilt"));
    var rebuild = await TimeAsync(() => Build("rebuild"));
    var bytes = first.Result.Artifacts.Sum(a => a.SizeBytes);
    var copy = await TimeAsync(() => CopyAsync(Path.Combine(work, "first"), Path.Combine(work, "copy")));

    Console.WriteLine($"full build (warm inputs): {Seconds(first.Elapsed)} s for {bytes / 1048576.0:F1} MiB of artifacts");
    foreach (var artifact in first.Result.Artifacts) Console.WriteLine($"  {artifact.Name,-16} {artifact.SizeBytes / 1048576.0,8:F1} MiB");
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
