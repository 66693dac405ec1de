using System.Collections.Concurrent;
using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Org.Lfedge.Eve.Config;
using Org.Lfedge.Eve.Info;
using Outpost.Agent.Apps;
using Outpost.Agent.Configuration;
using Outpost.Agent.Content;
using Outpost.Agent.Outbox;

namespace Outpost.Agent.Tests.Apps;

/// <summary>
/// An agent's app side on a throw-away state dir: the real pipeline (content store, volumes, runc) fed with an
/// EdgeDevConfig the test edits, an outbox to read info and app newlogs from, and a way to "restart the agent".
/// Disposing force-deletes every container it started, unmounts and removes the directory.
/// </summary>
public sealed class AppTestHost : IAsyncDisposable
{
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(90);
    private readonly ConcurrentDictionary<string, ZInfoMsg> _latest = new();
    private readonly ConcurrentQueue<(string Key, ZSwState State, uint Progress)> _history = new();
    private int _configVersion;
    private DesiredState _desired = DesiredState.Initial;
    private CancellationTokenSource? _stop;
    private Task? _loop;

    public AppTestHost()
    {
        Root = Directory.CreateTempSubdirectory("outpost-apps-").FullName;
        StateDir = Path.Combine(Root, "state");
        Outbox = new PersistentOutbox(Path.Combine(StateDir, "outbox"), 256L * 1024 * 1024, NullLogger<PersistentOutbox>.Instance);
    }

    public string Root { get; }

    public string StateDir { get; }

    public PersistentOutbox Outbox { get; }

    public EdgeDevConfig Config { get; } = new() { Id = new UUIDandVersion { Uuid = DeviceUuid, Version = "1" } };

    public const string DeviceUuid = "5a1d0b8e-0000-4000-8000-000000000001";

    public AppPipeline Pipeline { get; private set; } = null!;

    public static AppRuntimeOptions Options { get; } = new()
    {
        PollInterval = TimeSpan.FromMilliseconds(200),
        StopGrace = TimeSpan.FromSeconds(1),
        RetryFirst = TimeSpan.FromSeconds(1),
        Content = new ContentStoreOptions { RetryFirst = TimeSpan.FromSeconds(1), RetryMax = TimeSpan.FromSeconds(5), RegistryRetries = 1 },
    };

    /// <summary>Starts (or restarts) the agent's app pipeline on the same state directory.</summary>
    public void StartAgent()
    {
        Pipeline = new AppPipeline(StateDir, () => _desired, Outbox, () => DeviceUuid, Options, TimeProvider.System, NullLoggerFactory.Instance);
        Pipeline.Publisher.Published += Record;
        _stop = new CancellationTokenSource();
        _loop = Pipeline.RunAsync(_stop.Token);
    }

    /// <summary>Stops the pipeline the way a killed agent would leave things: apps keep running.</summary>
    public async Task StopAgentAsync()
    {
        await _stop!.CancelAsync();
        try
        {
            await _loop!;
        }
        catch (OperationCanceledException)
        {
        }

        await Pipeline.DisposeAsync();
        _stop.Dispose();
    }

    /// <summary>Makes the edited config the desired state, as the config poller does.</summary>
    public void Apply()
    {
        _desired = DesiredState.From(Config.Clone(), "hash-" + Interlocked.Increment(ref _configVersion));
        Pipeline.Wake();
    }

    public string AddDatastore(string registryHost, string? user = null, string? password = null) => AddDatastoreTo(Config, registryHost, user, password);

    public static string AddDatastoreTo(EdgeDevConfig config, string registryHost, string? user = null, string? password = null)
    {
        var id = Guid.NewGuid().ToString();
        config.Datastores.Add(new DatastoreConfig
        {
            Id = id,
            DType = DsType.DsContainerRegistry,
            Fqdn = "docker://" + registryHost,
            ApiKey = user ?? "",
            Password = password ?? "",
        });
        return id;
    }

    /// <summary>Adds content tree, volume and app the way the controller's AppService does; returns their UUIDs.</summary>
    public TestApp AddApp(string name, string datastoreId, string url, IReadOnlyDictionary<string, string>? env = null, string? command = null) =>
        AddAppTo(Config, new TestApp(Guid.NewGuid().ToString(), Guid.NewGuid().ToString(), Guid.NewGuid().ToString(), name), datastoreId, url, env, command);

    public static TestApp AddAppTo(EdgeDevConfig config, TestApp app, string datastoreId, string url, IReadOnlyDictionary<string, string>? env = null, string? command = null)
    {
        var name = app.Name;
        config.ContentInfo.Add(new ContentTree
        {
            Uuid = app.Content,
            DsId = datastoreId,
            DsIdsList = { datastoreId },
            URL = url,
            Iformat = Format.Container,
            DisplayName = url,
        });
        config.Volumes.Add(new Volume
        {
            Uuid = app.Volume,
            DisplayName = name + "-root",
            Origin = new VolumeContentOrigin { Type = VolumeContentOriginType.VcotDownload, DownloadContentTreeID = app.Content },
        });
        var lines = new StringBuilder();
        foreach (var (k, v) in env ?? new Dictionary<string, string>())
        {
            lines.Append(k).Append('=').Append(v).Append('\n');
        }

        if (command is not null)
        {
            lines.Append("EVE_ECO_CMD=").Append(command).Append('\n');
        }

        config.Apps.Add(new AppInstanceConfig
        {
            Uuidandversion = new UUIDandVersion { Uuid = app.Uuid, Version = "1" },
            Displayname = name,
            Fixedresources = new VmConfig { Memory = 64 * 1024, Vcpus = 1, VirtualizationMode = VmMode.Nohyper },
            Activate = true,
            VolumeRefList = { new VolumeRef { Uuid = app.Volume } },
            UserData = lines.Length == 0 ? "" : Convert.ToBase64String(Encoding.UTF8.GetBytes(lines.ToString())),
            Restart = new InstanceOpsCmd(),
            Purge = new InstanceOpsCmd(),
        });
        return app;
    }

    public AppInstanceConfig App(TestApp app) => Config.Apps.Single(a => a.Uuidandversion.Uuid == app.Uuid);

    public void RemoveApp(TestApp app)
    {
        Config.Apps.Remove(App(app));
        Config.Volumes.Remove(Config.Volumes.Single(v => v.Uuid == app.Volume));
        Config.ContentInfo.Remove(Config.ContentInfo.Single(c => c.Uuid == app.Content));
    }

    public ZInfoApp? AppInfo(string uuid) => _latest.TryGetValue("app/" + uuid, out var m) ? m.Ainfo : null;

    public ZInfoVolume? VolumeInfo(string uuid) => _latest.TryGetValue("volume/" + uuid, out var m) ? m.Vinfo : null;

    public ZInfoContentTree? ContentInfo(string uuid) => _latest.TryGetValue("content/" + uuid, out var m) ? m.Cinfo : null;

    public IReadOnlyList<ZSwState> AppStates(string uuid) => _history.Where(h => h.Key == "app/" + uuid).Select(h => h.State).ToList();

    public IReadOnlyList<ZSwState> ContentStates(string uuid) => _history.Where(h => h.Key == "content/" + uuid).Select(h => h.State).ToList();

    /// <summary>Download progress the content tree reported while in DOWNLOAD_STARTED.</summary>
    public IReadOnlyList<uint> ContentProgress(string uuid) =>
        _history.Where(h => h.Key == "content/" + uuid && h.State == ZSwState.DownloadStarted).Select(h => h.Progress).ToList();

    public async Task<ZInfoApp> WaitForAppAsync(string uuid, Func<ZInfoApp, bool> condition, string what)
    {
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < Bound)
        {
            if (AppInfo(uuid) is { } info && condition(info))
            {
                return info;
            }

            await Task.Delay(20);
        }

        var last = AppInfo(uuid);
        Assert.Fail($"App {uuid}: expected {what} within {Bound.TotalSeconds} s; last info: {last} (states {string.Join(",", AppStates(uuid))}); "
            + $"content: {string.Join(" | ", _latest.Values.Where(m => m.Cinfo is not null).Select(m => m.Cinfo.ToString()))}");
        return null!;
    }

    public Task<ZInfoApp> WaitForStateAsync(string uuid, ZSwState state) => WaitForAppAsync(uuid, i => i.State == state, state.ToString());

    /// <summary>Every console line shipped for the app so far, from the app newlogs files in the outbox.</summary>
    public IReadOnlyList<(string AppName, string Content)> AppLogLines(string uuid)
    {
        var lines = new List<(string, string)>();
        var dir = Path.Combine(StateDir, "outbox");
        foreach (var file in Directory.EnumerateFiles(dir, "*.appnewlogs." + uuid + "_*")
                     .Where(f => !Path.GetFileName(f).StartsWith('.')) // the outbox's temp files, about to be renamed
                     .Order(StringComparer.Ordinal))
        {
            var bytes = File.ReadAllBytes(file);
            Assert.True((bytes[3] & 0x08) != 0, "an app newlogs gzip header must carry the app name (FNAME)");
            var end = Array.IndexOf(bytes, (byte)0, 10);
            var name = Encoding.Latin1.GetString(bytes, 10, end - 10);
            using var gzip = new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress);
            using var reader = new StreamReader(gzip);
            while (reader.ReadLine() is { } json)
            {
                using var doc = System.Text.Json.JsonDocument.Parse(json);
                lines.Add((name, doc.RootElement.GetProperty("content").GetString()!));
            }
        }

        return lines;
    }

    public async Task WaitForLogAsync(string uuid, Func<IReadOnlyList<string>, bool> condition, string what)
    {
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < Bound)
        {
            if (condition(AppLogLines(uuid).Select(l => l.Content).ToList()))
            {
                return;
            }

            await Task.Delay(50);
        }

        Assert.Fail($"App {uuid}: expected console {what}; shipped lines: {string.Join(" / ", AppLogLines(uuid).Select(l => l.Content))}");
    }

    private void Record(ZInfoMsg message)
    {
        var key = message.Ainfo is { } a ? "app/" + a.AppID : message.Vinfo is { } v ? "volume/" + v.Uuid : "content/" + message.Cinfo.Uuid;
        _latest[key] = message;
        _history.Enqueue((key, message.Ainfo?.State ?? message.Vinfo?.State ?? message.Cinfo.State, message.Cinfo?.ProgressPercentage ?? 0));
    }

    public async ValueTask DisposeAsync()
    {
        if (_stop is { IsCancellationRequested: false })
        {
            await StopAgentAsync();
        }

        await CleanUpContainersAsync(StateDir, Root);
        Directory.Delete(Root, recursive: true);
    }

    /// <summary>Force-deletes the containers under a state dir's runc root and unmounts what is left below <paramref name="root"/>.</summary>
    public static async Task CleanUpContainersAsync(string stateDir, string root)
    {
        var runcRoot = Path.Combine(stateDir, "workloads", "runc");
        if (Directory.Exists(runcRoot))
        {
            foreach (var id in Directory.EnumerateDirectories(runcRoot).Select(Path.GetFileName))
            {
                Run("runc", "--root", runcRoot, "delete", "--force", id!);
            }
        }

        // Let the runc shims notice and exit before their directories go.
        await Task.Delay(200);
        foreach (var mount in File.ReadLines("/proc/self/mountinfo").Select(l => l.Split(' ')[4]).Where(m => m.StartsWith(root, StringComparison.Ordinal)).Reverse())
        {
            Run("umount", "-l", mount);
        }
    }

    public static string Run(string program, params string[] args)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
        process.WaitForExit();
        return output;
    }
}

public sealed record TestApp(string Uuid, string Volume, string Content, string Name);
