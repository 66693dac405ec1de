using System.Collections.Concurrent;
using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Org.Lfedge.Eve.Config;
using Org.Lfedge.Eve.Info;
using Outpost.Agent.Apps;
using Outpost.Agent.Bus;
using Outpost.Agent.Configuration;
using Outpost.Agent.Content;
using Outpost.Agent.Hosting;
using Outpost.Agent.Node;
using Outpost.Agent.Outbox;
using Outpost.Agent.Persistence;
using Outpost.Agent.Volumes;
using Outpost.Agent.Workloads;

namespace Outpost.Agent.Tests.Apps;

/// <summary>
/// An agent's app side on a throw-away state dir: the real app subsystems (content store, volumes, apps under runc,
/// consoles) as hosted services on a state bus, fed with an EdgeDevConfig the test edits, an outbox to read app
/// newlogs from, and a way to "restart the agent" (a new host and bus over the same state directory) or to "reboot
/// the host" (the boot id file changes). Disposing force-deletes every container it started, unmounts and removes
/// the directory.
/// </summary>
public sealed class AppTestHost : IAsyncDisposable
{
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(90);
    private readonly ConcurrentDictionary<string, object> _latest = new();
    private readonly ConcurrentQueue<(string Key, ZSwState State, uint Progress)> _history = new();
    private readonly ConcurrentQueue<AppStatus> _appHistory = new();
    private int _configVersion;
    private DesiredState? _desired;
    private IHost? _host;

    /// <param name="stateSizeBytes">Puts the state directory on a tmpfs of this size, to fill it up from outside.</param>
    public AppTestHost(AppRuntimeOptions? options = null, long? stateSizeBytes = null)
    {
        Root = Directory.CreateTempSubdirectory("outpost-apps-").FullName;
        StateDir = Path.Combine(Root, "state");
        if (stateSizeBytes is { } size)
        {
            Directory.CreateDirectory(StateDir);
            var mounted = Run("mount", "-t", "tmpfs", "-o", $"size={size},mode=0700", "tmpfs", StateDir);
            Assert.True(File.ReadLines("/proc/self/mountinfo").Any(l => l.Split(' ')[4] == StateDir), "tmpfs not mounted: " + mounted);
        }

        BootIdPath = Path.Combine(Root, "boot_id");
        File.WriteAllText(BootIdPath, Guid.NewGuid() + "\n");
        RuntimeOptions = options ?? Options;
        Outbox = new PersistentOutbox(Path.Combine(StateDir, "outbox"), 256L * 1024 * 1024, NullLogger<PersistentOutbox>.Instance);
    }

    public string Root { get; }

    public string StateDir { get; }

    /// <summary>The file the agent reads the host's boot id from; <see cref="SimulateRebootAsync"/> changes it.</summary>
    public string BootIdPath { get; }

    public AppRuntimeOptions RuntimeOptions { get; }

    public PersistentOutbox Outbox { get; }

    public EdgeDevConfig Config { get; } = new() { Id = new UUIDandVersion { Uuid = DeviceUuid, Version = "1" } };

    public const string DeviceUuid = "5a1d0b8e-0000-4000-8000-000000000001";

    /// <summary>The bus of the agent run now going; a restarted agent has a new one.</summary>
    public StateBus Bus { get; private set; } = new();

    public IWorkloadDriver Driver => _host!.Services.GetRequiredService<WorkloadRuntime>().Driver!;

    public static AppRuntimeOptions Options { get; } = new()
    {
        PollInterval = TimeSpan.FromMilliseconds(200),
        StopGrace = TimeSpan.FromSeconds(1),
        RetryFirst = TimeSpan.FromSeconds(1),
        Content = new ContentStoreOptions { RetryFirst = TimeSpan.FromSeconds(1), RetryMax = TimeSpan.FromSeconds(5), RegistryRetries = 1 },
    };

    /// <summary>Starts (or restarts) the agent's app subsystems on the same state directory.</summary>
    public void StartAgent()
    {
        Bus = new StateBus();
        Bus.Topic<AppStatus>().Changed += (key, status) =>
        {
            Record("app/" + key, status, status?.State, 0);
            if (status is not null)
            {
                _appHistory.Enqueue(status);
            }
        };
        Bus.Topic<VolumeStatus>().Changed += (key, status) => Record("volume/" + key, status, status?.State, 0);
        Bus.Topic<ContentStatus>().Changed += (key, status) => Record("content/" + key, status, status?.State, status?.ProgressPercentage ?? 0);
        Bus.Topic<RefusedObject>().Changed += (_, refused) =>
        {
            if (refused is not null)
            {
                var kind = refused.Kind switch
                {
                    Outpost.Api.Configuration.ConfigObjectKind.App => "app/",
                    Outpost.Api.Configuration.ConfigObjectKind.Volume => "volume/",
                    _ => "content/",
                };
                Record(kind + refused.Id, refused, ZSwState.Error, 0);
            }
        };
        var options = new AgentOptions(Path.Combine(Root, "conf"), StateDir) { Apps = RuntimeOptions, BootIdPath = BootIdPath };
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        var services = builder.Services;
        services.AddSingleton<ILoggerFactory>(NullLoggerFactory.Instance);
        services.AddSingleton(typeof(ILogger<>), typeof(Logger<>));
        services.AddSingleton(options);
        services.AddSingleton(Bus);
        services.AddSingleton(Outbox);
        services.AddSingleton<AgentHealth>();
        services.AddSingleton(new StorageHealth(StateDir, Bus, TimeProvider.System));
        services.AddSingleton(new ContentStore(Path.Combine(StateDir, "content")));
        services.AddSingleton<IContentStore>(sp => sp.GetRequiredService<ContentStore>());
        services.AddSingleton(WorkloadRuntime.Detect(StateDir, RuntimeOptions.RuncPath, HostBoot.ReadBootId(BootIdPath), RuntimeOptions.VmAccelerator, RuntimeOptions.ContainerVmKitDirectory));
        AgentHost.AddAppSubsystems(services);
        _host = builder.Build();
        _host.StartAsync().GetAwaiter().GetResult();
        _desired?.Publish(Bus);
    }

    /// <summary>Stops the subsystems the way a killed agent would leave things: apps keep running.</summary>
    public async Task StopAgentAsync()
    {
        if (_host is { } host)
        {
            _host = null;
            await host.StopAsync();
            host.Dispose();
        }
    }

    /// <summary>
    /// What a power cut and the boot after it do to the apps: the agent and every workload process die at once
    /// (nobody records an exit), the mounts go, and the host comes back with a new boot id.
    /// </summary>
    public async Task SimulatePowerCutAsync()
    {
        await StopAgentAsync();
        var runcRoot = Path.Combine(StateDir, "workloads", "runc");
        foreach (var id in Directory.Exists(runcRoot) ? Directory.EnumerateDirectories(runcRoot).Select(Path.GetFileName).OfType<string>() : [])
        {
            // The shim first, so it cannot record an exit status, then runc and the container itself.
            foreach (var pid in ProcessesMentioning(id))
            {
                Run("kill", "-KILL", pid.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }

            Run("runc", "--root", runcRoot, "kill", id, "KILL");
        }

        await WaitUntilAsync(() => !Directory.Exists(runcRoot) || Directory.EnumerateDirectories(runcRoot)
            .All(d => ProcessesMentioning(Path.GetFileName(d)).Count == 0 && !Run("runc", "--root", runcRoot, "state", Path.GetFileName(d)).Contains("\"running\"")),
            "every workload process to be gone");
        foreach (var mount in File.ReadLines("/proc/self/mountinfo").Select(l => l.Split(' ')[4]).Where(m => m.StartsWith(Root, StringComparison.Ordinal)).Reverse())
        {
            Run("umount", "-l", mount);
        }

        File.WriteAllText(BootIdPath, Guid.NewGuid() + "\n");
    }

    /// <summary>Makes the edited config the desired state, as the config poller does.</summary>
    public void Apply()
    {
        _desired = DesiredState.From(Config.Clone(), "hash-" + Interlocked.Increment(ref _configVersion), DeviceUuid);
        _desired.Publish(Bus);
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

    /// <summary>The app's status as ZInfoApp; after a removal, the deletion report (only AppID), as the reporter sends it.</summary>
    public ZInfoApp? AppInfo(string uuid) => _latest.TryGetValue("app/" + uuid, out var m)
        ? m switch
        {
            AppStatus s => s.ToInfo(),
            // As the status reporter tells the controller about an app the agent refused from the config.
            RefusedObject r => new ZInfoApp
            {
                AppID = uuid,
                AppName = r.DisplayName,
                State = ZSwState.Error,
                AppErr = { new ErrorInfo { Description = r.Reason, Severity = Severity.Error, Timestamp = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow) } },
            },
            _ => new ZInfoApp { AppID = uuid },
        }
        : null;

    public AppStatus? StatusOf(string uuid) => _latest.TryGetValue("app/" + uuid, out var m) ? m as AppStatus : null;

    public ZInfoVolume? VolumeInfo(string uuid) => _latest.TryGetValue("volume/" + uuid, out var m)
        ? m switch
        {
            VolumeStatus s => s.ToInfo(),
            RefusedObject r => new ZInfoVolume { Uuid = uuid, State = ZSwState.Error, VolumeErr = new ErrorInfo { Description = r.Reason } },
            _ => new ZInfoVolume { Uuid = uuid },
        }
        : null;

    public ZInfoContentTree? ContentInfo(string uuid) => _latest.TryGetValue("content/" + uuid, out var m)
        ? m switch
        {
            ContentStatus s => s.ToInfo(),
            RefusedObject r => new ZInfoContentTree { Uuid = uuid, State = ZSwState.Error, Err = new ErrorInfo { Description = r.Reason } },
            _ => new ZInfoContentTree { Uuid = uuid },
        }
        : null;

    /// <summary>Every status the app subsystem published for the app, in order.</summary>
    public IReadOnlyList<AppStatus> StatusHistory(string uuid) => _appHistory.Where(s => s.Uuid == uuid).ToList();

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
            + $"content: {string.Join(" | ", _latest.Values.OfType<ContentStatus>().Select(c => c.ToInfo().ToString()))}");
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

    private void Record(string key, object? status, ZSwState? state, uint progress)
    {
        // A removed object is remembered as deleted: its info would be the id alone (state INVALID).
        _latest[key] = status ?? (object)"deleted";
        _history.Enqueue((key, state ?? ZSwState.Invalid, progress));
    }

    public async ValueTask DisposeAsync()
    {
        await StopAgentAsync();
        await CleanUpContainersAsync(StateDir, Root);
        Directory.Delete(Root, recursive: true);
    }

    private static List<int> ProcessesMentioning(string? id)
    {
        var pids = new List<int>();
        if (id is null)
        {
            return pids;
        }

        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid) || pid == Environment.ProcessId)
            {
                continue;
            }

            try
            {
                if (File.ReadAllText(Path.Combine(dir, "cmdline")).Contains(id, StringComparison.Ordinal))
                {
                    pids.Add(pid);
                }
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }

        return pids;
    }

    public static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            if (watch.Elapsed > Bound)
            {
                Assert.Fail($"Gave up waiting for {what} after {Bound.TotalSeconds} s.");
            }

            await Task.Delay(50);
        }
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
