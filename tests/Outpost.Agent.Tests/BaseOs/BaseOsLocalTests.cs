using System.CommandLine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.FileProviders;
using Outpost.Agent.BaseOs;
using Outpost.Agent.Tests.Fixtures;
using Outpost.Api.OsImages;
using Outpost.Disk.Gpt;

namespace Outpost.Agent.Tests.BaseOs;

/// <summary>
/// Local mode (`outpost os update`): a signed build folder on a plain web server (Kestrel serving files, with Range
/// support), no BaseOS in the controller's config. The command hands the request to the running agent's reconciler.
/// </summary>
public sealed class BaseOsLocalTests(OsRegistryFixture registry) : IClassFixture<OsRegistryFixture>
{
    private static OsBuild V1 => OsRegistryFixture.V1;

    private static OsBuild V2 => OsRegistryFixture.V2;

    [Fact]
    public async Task Apply_downloads_verifies_and_writes_IMGB_then_reboots_into_it_and_the_controllers_config_does_not_undo_it()
    {
        using var folder = new TempDirectory();
        WriteSignedFolder(folder.Path, V2, registry.Key);
        await using var server = await FileServer.StartAsync(folder.Path);
        await using var s = await BaseOsScenario.StartAsync(registry.Host, registry.Key, V1);
        s.HoldReboots();
        s.Start();
        await s.WaitForSwAsync(EvePartitions.ImgaName, sw => sw.Activated, "IMGA running");

        Assert.Equal(0, await OsUpdateAsync("--check", "--url", server.Url, "--state", s.Agent.StateDir, "--disk", s.Disk.Path, "--boot-label", EvePartitions.ImgaName));
        Assert.Equal(0, await OsUpdateAsync("--apply", "--url", server.Url, "--state", s.Agent.StateDir));

        await s.Run.WaitUntilAsync(() => s.Power.Reasons.Count > 0, "a reboot requested");
        Assert.Equal(["Rebooting into 0.2.0 on IMGB"], s.Power.Reasons);
        var state = s.ReadState()!;
        Assert.True(state.Local);
        Assert.True(state.LocalRequestSucceeded);
        Assert.Equal(BaseOsScenario.V2, state.Pending);
        Assert.False(File.Exists(LocalUpdateRequest.PathIn(s.Agent.StateDir)), "the request is done and removed");

        // Several config polls without a BaseOS: the pending local update stays (a controller update would be reset).
        await s.WaitForConfigPollsAsync(2);
        await s.Faults.WaitForPassesAsync(3);
        Assert.Equal(0, await s.StopAsync());
        Assert.Equal(PartitionState.Updating, s.Disk.State(EvePartitions.ImgbName));
        Assert.True(s.Disk.SlotHolds(EvePartitions.ImgbName, V2), "IMGB does not hold 0.2.0");
        Assert.True(V2.PayloadMatches(s.Disk.Payload(EvePartitions.ImgbName)), "IMGB's boot payload is not 0.2.0's");
        Assert.Equal((EvePartitions.ImgbName, EvePartitions.ImgbName), s.Disk.NextBoot());
        Assert.False(Directory.Exists(Path.Combine(s.Agent.StateDir, "baseos", "local")), "the downloaded files are removed once IMGB holds them");
    }

    [Fact]
    public async Task A_folder_signed_with_a_key_the_device_does_not_trust_is_refused_and_the_disk_is_untouched()
    {
        using var folder = new TempDirectory();
        using var stranger = OsImages.NewKey();
        WriteSignedFolder(folder.Path, V2, stranger);
        await using var server = await FileServer.StartAsync(folder.Path);
        await using var s = await BaseOsScenario.StartAsync(registry.Host, registry.Key, V1);
        var before = s.Disk.Sha256();
        s.HoldReboots();
        s.Start();

        Assert.Equal(1, await OsUpdateAsync("--apply", "--url", server.Url, "--state", s.Agent.StateDir));
        var state = s.ReadState()!;
        Assert.False(state.LocalRequestSucceeded);
        Assert.Contains("signature", state.LastOutcome, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(0, await s.StopAsync());
        Assert.Empty(s.Power.Reasons);
        s.AssertUntouched(before);
    }

    [Fact]
    public async Task A_rootfs_that_does_not_match_SHA256SUMS_is_refused_and_the_disk_is_untouched()
    {
        using var folder = new TempDirectory();
        WriteSignedFolder(folder.Path, V2, registry.Key);
        // Truncated on the server after the checksums were written.
        var rootfs = Path.Combine(folder.Path, OsImageArtifact.RootfsFile);
        File.WriteAllBytes(rootfs, File.ReadAllBytes(rootfs)[..(V2.Rootfs.Length / 2)]);
        await using var server = await FileServer.StartAsync(folder.Path);
        await using var s = await BaseOsScenario.StartAsync(registry.Host, registry.Key, V1);
        var before = s.Disk.Sha256();
        s.HoldReboots();
        s.Start();

        Assert.Equal(1, await OsUpdateAsync("--apply", "--url", server.Url, "--state", s.Agent.StateDir));
        Assert.Contains("does not match its sha256", s.ReadState()!.LastOutcome, StringComparison.Ordinal);
        Assert.Equal(0, await s.StopAsync());
        s.AssertUntouched(before);
    }

    [Fact]
    public async Task The_command_refuses_a_missing_action_and_a_non_http_url_without_touching_the_state()
    {
        using var state = new TempDirectory();
        Assert.Equal(1, await OsUpdateAsync("--url", "http://127.0.0.1:1/", "--state", state.Path));
        Assert.Equal(1, await OsUpdateAsync("--apply", "--url", "file:///etc/passwd", "--state", state.Path));
        Assert.False(File.Exists(LocalUpdateRequest.PathIn(state.Path)));
    }

    private static Task<int> OsUpdateAsync(params string[] arguments) =>
        new RootCommand { OsUpdateCommandLine.Create() }.Parse(["update", .. arguments, "--timeout", "120"]).InvokeAsync();

    /// <summary>The folder `outpost image sign` leaves: payload, signature, SHA256SUMS.</summary>
    private static void WriteSignedFolder(string directory, OsBuild build, System.Security.Cryptography.ECDsa key)
    {
        Directory.CreateDirectory(Path.Combine(directory, "boot"));
        File.WriteAllBytes(Path.Combine(directory, OsImageArtifact.RootfsFile), build.Rootfs);
        File.WriteAllBytes(Path.Combine(directory, OsImageArtifact.KernelFile), build.Kernel);
        File.WriteAllBytes(Path.Combine(directory, OsImageArtifact.InitrdFile), build.Initrd);
        var signature = OsImageSigner.Sign(build.Statement(), key);
        File.WriteAllBytes(Path.Combine(directory, OsImageArtifact.SignatureFile), signature);
        var statement = build.Statement();
        File.WriteAllText(Path.Combine(directory, OsImageChecksums.FileName), OsImageChecksums.Format(new Dictionary<string, string>
        {
            [OsImageArtifact.RootfsFile] = statement.RootfsSha256,
            [OsImageArtifact.KernelFile] = statement.KernelSha256,
            [OsImageArtifact.InitrdFile] = statement.InitrdSha256,
            [OsImageArtifact.SignatureFile] = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(signature)),
        }));
    }

    /// <summary>A plain web server for one folder on 127.0.0.1 (ASP.NET's static files: ranges, lengths).</summary>
    private sealed class FileServer(WebApplication app, string url) : IAsyncDisposable
    {
        public string Url { get; } = url;

        public static async Task<FileServer> StartAsync(string root)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            var app = builder.Build();
            app.UseStaticFiles(new StaticFileOptions { FileProvider = new PhysicalFileProvider(root), ServeUnknownFileTypes = true });
            await app.StartAsync();
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            return new FileServer(app, address + "/");
        }

        public async ValueTask DisposeAsync() => await app.DisposeAsync();
    }
}
