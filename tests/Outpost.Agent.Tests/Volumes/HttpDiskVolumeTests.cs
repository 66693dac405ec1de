using System.Net;
using System.Security.Cryptography;
using Org.Lfedge.Eve.Config;
using Org.Lfedge.Eve.Info;
using Outpost.Agent.Apps;
using Outpost.Agent.Content;
using Outpost.Agent.Tests.Apps;
using Outpost.Agent.Tests.Fixtures;
using Outpost.Agent.Volumes;
using Outpost.Agent.Workloads.Qemu;

namespace Outpost.Agent.Tests.Volumes;

/// <summary>
/// VM disks from an HTTP datastore (EVE DsHttp) through the real pipeline: a real web server on 127.0.0.1 serves the
/// file, the content service downloads and verifies it against the tree's sha256 and stores it as a disk artifact,
/// the volume service makes it a disk volume exactly as for a disk pulled from a registry.
/// </summary>
public sealed class HttpDiskVolumeTests : IAsyncLifetime
{
    private const long MiB = 1024 * 1024;
    private TestFileServer _server = null!;
    private AppTestHost _host = null!;
    private string _datastore = "";

    public async Task InitializeAsync()
    {
        _server = await TestFileServer.StartAsync();
        _datastore = Guid.NewGuid().ToString();
        StartHost(AppTestHost.Options);
    }

    /// <summary>A fresh agent (state dir, bus, config with the datastore) under <paramref name="options"/>.</summary>
    private void StartHost(AppRuntimeOptions options)
    {
        _host = new AppTestHost(options);
        _host.Config.Datastores.Add(new DatastoreConfig { Id = _datastore, DType = DsType.DsHttp, Fqdn = _server.Origin, Dpath = "images" });
        _host.StartAgent();
    }

    private async Task RestartHostAsync(ContentStoreOptions content)
    {
        await _host.DisposeAsync();
        StartHost(AppTestHost.Options with { Content = content });
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        await _server.DisposeAsync();
    }

    [Theory]
    [InlineData(Format.Qcow2, VmDiskFormat.Qcow2, "vm.qcow2")]
    [InlineData(Format.Raw, VmDiskFormat.Raw, "vm.img")]
    public async Task Disk_from_an_http_datastore_becomes_a_loaded_content_tree_and_a_disk_volume(Format format, VmDiskFormat expected, string fileName)
    {
        var served = _server.Add("images/" + fileName, MakeDisk(format));
        var tree = AddContentTree(fileName, format, Sha256Of(served), (ulong)new FileInfo(served).Length);
        var volume = AddVolume(tree);

        _host.Apply();
        var created = await WaitForVolumeAsync(volume, ZSwState.CreatedVolume);

        Assert.True(created.IsDisk, $"expected a disk volume, got {created}");
        Assert.Equal(expected, created.DiskFormat);
        Assert.Equal(Sha256Of(served), Sha256Of(created.DiskPath!));
        var info = _host.ContentInfo(tree)!;
        Assert.Equal(ZSwState.Loaded, info.State);
        Assert.Equal(Sha256Of(served), info.Sha256);
        Assert.Equal((ulong)new FileInfo(served).Length, info.Resources.CurSizeBytes);
        var states = _host.ContentStates(tree).Distinct().ToList();
        Assert.True(IsSubsequence([ZSwState.DownloadStarted, ZSwState.Downloaded, ZSwState.Verified, ZSwState.Loaded], states),
            $"expected DOWNLOAD_STARTED, DOWNLOADED, VERIFIED, LOADED in that order; got {string.Join(", ", states)}");
        Assert.Contains(100u, _host.ContentProgress(tree));
        Assert.Equal(["/images/" + fileName], _server.Requests);
        Assert.Empty(TempFiles());
    }

    [Fact]
    public async Task Disk_from_an_https_datastore_is_trusted_through_the_datastores_ca_and_refused_without_it()
    {
        var pki = new TestPki("HTTPS datastore");
        await using var https = await TestFileServer.StartAsync(pki.Tls);
        var served = https.Add("images/vm.qcow2", MakeDisk(Format.Qcow2));
        var trusting = Guid.NewGuid().ToString();
        var distrusting = Guid.NewGuid().ToString();
        var trustingDatastore = new DatastoreConfig { Id = trusting, DType = DsType.DsHttps, Fqdn = https.Origin, Dpath = "images" };
        trustingDatastore.DsCertPEM.Add(Google.Protobuf.ByteString.CopyFromUtf8(pki.TlsCa.CertificatePem));
        _host.Config.Datastores.Add(trustingDatastore);
        _host.Config.Datastores.Add(new DatastoreConfig { Id = distrusting, DType = DsType.DsHttps, Fqdn = https.Origin, Dpath = "images" });
        var trusted = AddContentTree("vm.qcow2", Format.Qcow2, Sha256Of(served), datastore: trusting);
        var refused = AddContentTree("vm.qcow2", Format.Qcow2, Sha256Of(served), datastore: distrusting);
        var volume = AddVolume(trusted);

        _host.Apply();
        var created = await WaitForVolumeAsync(volume, ZSwState.CreatedVolume);
        var failed = await WaitForContentAsync(refused, ZSwState.Error);

        Assert.Equal(Sha256Of(served), Sha256Of(created.DiskPath!));
        Assert.Contains("is not trusted", failed.Err.Description);
        Assert.Contains("dsCertPEM", failed.Err.Description);
    }

    [Fact]
    public async Task A_sha256_mismatch_is_an_error_naming_both_hashes_and_nothing_is_kept()
    {
        var served = _server.Add("images/vm.raw", MakeDisk(Format.Raw));
        var wrong = Convert.ToHexStringLower(SHA256.HashData("another file"u8));
        var tree = AddContentTree("vm.raw", Format.Raw, wrong);

        _host.Apply();
        var failed = await WaitForContentAsync(tree, ZSwState.Error);

        Assert.Contains("sha256:" + wrong, failed.Err.Description);
        Assert.Contains("sha256:" + Sha256Of(served), failed.Err.Description);
        Assert.False(File.Exists(Path.Combine(BlobDirectory, Sha256Of(served))), "a disk that failed verification must not stay in the content store");
        Assert.Empty(TempFiles());
    }

    [Fact]
    public async Task A_tree_without_sha256_is_an_error_and_nothing_is_downloaded()
    {
        _server.Add("images/vm.raw", MakeDisk(Format.Raw));
        var tree = AddContentTree("vm.raw", Format.Raw, sha256: "");

        _host.Apply();
        var failed = await WaitForContentAsync(tree, ZSwState.Error);

        Assert.Contains("has no sha256", failed.Err.Description);
        Assert.Contains("sha256sum FILE", failed.Err.Description);
        Assert.Empty(_server.Requests);
    }

    [Fact]
    public async Task A_container_tree_on_an_http_datastore_is_an_error()
    {
        var served = _server.Add("images/app.tar", MakeDisk(Format.Raw));
        var tree = AddContentTree("app.tar", Format.Container, Sha256Of(served));

        _host.Apply();
        var failed = await WaitForContentAsync(tree, ZSwState.Error);

        Assert.Contains("serves RAW, QCOW2 or ISO disk images only", failed.Err.Description);
        Assert.Contains("DsContainerRegistry", failed.Err.Description);
        Assert.Empty(_server.Requests);
    }

    [Fact]
    public async Task A_missing_file_is_an_error_with_the_404_and_is_fetched_once_it_is_there()
    {
        var disk = MakeDisk(Format.Raw);
        var tree = AddContentTree("later.raw", Format.Raw, Sha256Of(disk));

        _host.Apply();
        var failed = await WaitForContentAsync(tree, ZSwState.Error);
        Assert.Contains("answered 404 Not Found", failed.Err.Description);
        Assert.Contains("/images/later.raw", failed.Err.Description);

        _server.Add("images/later.raw", disk);
        await WaitForContentAsync(tree, ZSwState.Loaded);
        Assert.True(_server.Requests.Count >= 2, "the download was tried again");
    }

    [Fact]
    public async Task A_server_error_is_an_error_with_the_500_and_is_retried()
    {
        var served = _server.Add("images/vm.raw", MakeDisk(Format.Raw));
        _server.FailWith = HttpStatusCode.InternalServerError;
        var tree = AddContentTree("vm.raw", Format.Raw, Sha256Of(served));

        _host.Apply();
        var failed = await WaitForContentAsync(tree, ZSwState.Error);
        Assert.Contains("answered 500 Internal Server Error", failed.Err.Description);
        Assert.Contains("Retrying later", failed.Err.Description);

        await _server.WaitForRequestsAsync(2);
        _server.FailWith = null;
        await WaitForContentAsync(tree, ZSwState.Loaded);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_disk_over_the_trees_maxsizebytes_is_an_error_and_nothing_is_kept(bool chunked)
    {
        // Announced (refused before the body) or not (refused once the bytes pass the limit).
        _server.Chunked = chunked;
        var served = _server.Add("images/big.raw", MakeDisk(Format.Raw));
        var tree = AddContentTree("big.raw", Format.Raw, Sha256Of(served), maxSizeBytes: MiB);

        _host.Apply();
        var failed = await WaitForContentAsync(tree, ZSwState.Error);

        Assert.Contains($"over the limit of {MiB} bytes", failed.Err.Description);
        Assert.Contains("raise maxSizeBytes", failed.Err.Description);
        Assert.False(File.Exists(Path.Combine(BlobDirectory, Sha256Of(served))));
        Assert.Empty(TempFiles());
    }

    [Fact]
    public async Task The_agents_own_limit_caps_a_tree_without_maxsizebytes()
    {
        await RestartHostAsync(AppTestHost.Options.Content with { MaxContentBytes = MiB });
        var served = _server.Add("images/big.raw", MakeDisk(Format.Raw));
        var tree = AddContentTree("big.raw", Format.Raw, Sha256Of(served));

        _host.Apply();
        var failed = await WaitForContentAsync(tree, ZSwState.Error);

        Assert.Contains($"over the limit of {MiB} bytes", failed.Err.Description);
        Assert.Empty(TempFiles());
    }

    [Fact]
    public async Task A_server_that_stops_sending_is_an_error_and_the_download_is_tried_again()
    {
        await RestartHostAsync(AppTestHost.Options.Content with { StalledDownloadTimeout = TimeSpan.FromSeconds(1) });
        _server.StallAfterBytes = 64 * 1024;
        var served = _server.Add("images/vm.raw", MakeDisk(Format.Raw));
        var tree = AddContentTree("vm.raw", Format.Raw, Sha256Of(served));

        _host.Apply();
        var failed = await WaitForContentAsync(tree, ZSwState.Error);
        Assert.Contains("sent nothing for 1 s", failed.Err.Description);
        Assert.Contains("the download starts over", failed.Err.Description);
        Assert.Empty(TempFiles());

        _server.StallAfterBytes = null;
        var loaded = await WaitForContentAsync(tree, ZSwState.Loaded);
        Assert.Equal(Sha256Of(served), loaded.Sha256);
    }

    [Fact]
    public async Task A_loaded_disk_stays_loaded_with_its_files_sha256_after_an_agent_restart_without_a_new_download()
    {
        var served = _server.Add("images/vm.qcow2", MakeDisk(Format.Qcow2));
        var tree = AddContentTree("vm.qcow2", Format.Qcow2, Sha256Of(served));
        _host.Apply();
        await WaitForContentAsync(tree, ZSwState.Loaded);

        await _host.StopAgentAsync();
        _server.FailWith = HttpStatusCode.InternalServerError;
        _host.StartAgent();
        // The new agent's own bus: what it found in the store, not what the last one said.
        await AppTestHost.WaitUntilAsync(() => _host.Bus.Topic<ContentStatus>().Get(tree)?.IsLoaded == true, $"content tree {tree} to be loaded again");
        var again = _host.Bus.Topic<ContentStatus>().Get(tree)!.ToInfo();

        Assert.Equal(Sha256Of(served), again.Sha256);
        Assert.Single(_server.Requests);
    }

    private string BlobDirectory => Path.Combine(_host.StateDir, "content", "blobs", "sha256");

    private IEnumerable<string> TempFiles() =>
        Directory.Exists(BlobDirectory) ? Directory.EnumerateFiles(BlobDirectory).Where(f => Path.GetFileName(f).StartsWith('.')) : [];

    /// <summary>A 4 MiB random raw disk or a 64 MiB qcow2, in the test's own directory (not the served one).</summary>
    private string MakeDisk(Format format)
    {
        var dir = Directory.CreateDirectory(Path.Combine(_host.Root, "disks")).FullName;
        var path = Path.Combine(dir, Guid.NewGuid().ToString("N") + (format == Format.Qcow2 ? ".qcow2" : ".raw"));
        if (format == Format.Qcow2)
        {
            var output = AppTestHost.Run("qemu-img", "create", "-q", "-f", "qcow2", path, "64M");
            Assert.True(output.Trim().Length == 0, $"qemu-img create: {output} (install qemu-utils: bash .ci/install-deps.sh)");
        }
        else
        {
            File.WriteAllBytes(path, RandomNumberGenerator.GetBytes((int)(4 * MiB)));
        }

        return path;
    }

    private string AddContentTree(string url, Format format, string sha256, ulong maxSizeBytes = 0, string? datastore = null)
    {
        var uuid = Guid.NewGuid().ToString();
        _host.Config.ContentInfo.Add(new ContentTree
        {
            Uuid = uuid,
            DsIdsList = { datastore ?? _datastore },
            URL = url,
            Iformat = format,
            Sha256 = sha256,
            MaxSizeBytes = maxSizeBytes,
            DisplayName = url,
        });
        return uuid;
    }

    private string AddVolume(string contentTree)
    {
        var uuid = Guid.NewGuid().ToString();
        _host.Config.Volumes.Add(new Volume
        {
            Uuid = uuid,
            DisplayName = "disk-" + uuid[..8],
            Origin = new VolumeContentOrigin { Type = VolumeContentOriginType.VcotDownload, DownloadContentTreeID = contentTree },
        });
        return uuid;
    }

    private async Task<VolumeStatus> WaitForVolumeAsync(string uuid, ZSwState state)
    {
        await AppTestHost.WaitUntilAsync(() => _host.Bus.Topic<VolumeStatus>().Get(uuid)?.State == state,
            $"volume {uuid} to be {state} (last: {_host.Bus.Topic<VolumeStatus>().Get(uuid)}; content: {string.Join(" | ", _host.Config.ContentInfo.Select(c => _host.ContentInfo(c.Uuid)))})");
        return _host.Bus.Topic<VolumeStatus>().Get(uuid)!;
    }

    private async Task<ZInfoContentTree> WaitForContentAsync(string uuid, ZSwState state)
    {
        await AppTestHost.WaitUntilAsync(() => _host.ContentInfo(uuid)?.State == state, $"content tree {uuid} to be {state} (last: {_host.ContentInfo(uuid)})");
        return _host.ContentInfo(uuid)!;
    }

    private static bool IsSubsequence(IReadOnlyList<ZSwState> expected, IReadOnlyList<ZSwState> actual)
    {
        var i = 0;
        foreach (var state in actual)
        {
            if (i < expected.Count && state == expected[i])
            {
                i++;
            }
        }

        return i == expected.Count;
    }

    private static string Sha256Of(string path)
    {
        using var file = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(file));
    }
}
