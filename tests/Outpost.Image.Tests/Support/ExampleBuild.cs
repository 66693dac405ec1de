using Outpost.Image.Build;
using Outpost.Image.Layouts;

namespace Outpost.Image.Tests.Support;

/// <summary>
/// The builder tests' image (Support/minimal-image.yml) built once for a whole test class: inputs made offline by
/// <see cref="DemoInputs"/>, every disk format, fixed SOURCE_DATE_EPOCH.
/// </summary>
public sealed class ExampleBuild : IAsyncLifetime
{
    public const long Epoch = 1700000000;
    private readonly TempDirectory _temp = new();

    public string WorkDirectory => _temp.Path;
    public string SpecPath => _temp.Combine("outpost.yml");
    public string Output => _temp.Combine("out");
    public BuildSummary Summary { get; private set; } = null!;

    public string Artifact(string name) => Path.Combine(Output, name);

    public async Task InitializeAsync()
    {
        await PrepareInputsAsync(_temp.Path);
        Summary = await BuildAsync(SpecPath, Output);
    }

    public static async Task PrepareInputsAsync(string directory)
    {
        File.Copy(RepoPaths.ExampleSpec, Path.Combine(directory, "outpost.yml"), overwrite: true);
        var config = Directory.CreateDirectory(Path.Combine(directory, "config")).FullName;
        await File.WriteAllTextAsync(Path.Combine(config, "server"), "controller.example.test:443\n");
        await File.WriteAllTextAsync(Path.Combine(config, "root-certificate.pem"), "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
        Directory.CreateDirectory(Path.Combine(config, "DevicePortConfig"));
        await File.WriteAllTextAsync(Path.Combine(config, "DevicePortConfig", "override.json"), "{\"Version\":1,\"Ports\":[]}\n");
        await DemoInputs.CreateAsync(Path.Combine(directory, "images"), new DemoInputSources { DebianBase = false }, CancellationToken.None);
    }

    public static Task<BuildSummary> BuildAsync(string specPath, string output, OutputFormats formats = OutputFormats.All) =>
        ImageBuilder.BuildAsync(new ImageBuildOptions
        {
            SpecPath = specPath,
            OutputDirectory = output,
            Version = "1.2.3",
            SourceDateEpoch = Epoch,
            Formats = formats,
            ConfigDirectory = Path.Combine(Path.GetDirectoryName(specPath)!, "config"),
        }, null, CancellationToken.None);

    public Task DisposeAsync()
    {
        _temp.Dispose();
        return Task.CompletedTask;
    }
}
