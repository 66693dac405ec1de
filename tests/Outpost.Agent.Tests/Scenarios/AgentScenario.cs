using Org.Lfedge.Eve.Config;
using Org.Lfedge.Eve.Info;
using Outpost.Agent.Apps;
using Outpost.Agent.Tests.Apps;
using Outpost.Agent.Tests.Fixtures;
using Outpost.Oci.Registry;

namespace Outpost.Agent.Tests.Scenarios;

/// <summary>
/// The whole agent against the EVE-spec fixture controller, with a real registry holding a busybox image for apps:
/// a device onboarded under one serial, a state directory (optionally on a small tmpfs), and a run that can be started,
/// stopped and started again (after a simulated reboot). Disposing stops the agent, deletes every container and mount.
/// </summary>
public sealed class AgentScenario : IAsyncDisposable
{
    private readonly TempDirectory _temp = new();
    private CancellationTokenSource? _stop;
    private Task<int>? _agent;

    private AgentScenario(EveControllerFixture controller, TestRegistry? registry, long? stateSizeBytes, bool stateOnExt4)
    {
        Controller = controller;
        Registry = registry;
        ConfigDir = _temp.Sub("conf");
        StateDir = Path.Combine(_temp.Path, "state");
        Directory.CreateDirectory(StateDir);
        if (stateSizeBytes is { } size && stateOnExt4)
        {
            // A real block file system (loop-mounted ext4), for faults a tmpfs cannot have: see FailStateDisk.
            var image = Path.Combine(_temp.Path, "state.ext4");
            using (var file = File.Create(image))
            {
                file.SetLength(size);
            }

            AppTestHost.Run("mkfs.ext4", "-q", "-F", image);
            AppTestHost.Run("mount", "-o", "loop", image, StateDir);
            Assert.True(File.ReadLines("/proc/self/mountinfo").Any(l => l.Split(' ')[4] == StateDir), "the state ext4 is not mounted");
        }
        else if (stateSizeBytes is { } tmpfsSize)
        {
            AppTestHost.Run("mount", "-t", "tmpfs", "-o", $"size={tmpfsSize},mode=0700", "tmpfs", StateDir);
            Assert.True(File.ReadLines("/proc/self/mountinfo").Any(l => l.Split(' ')[4] == StateDir), "the state tmpfs is not mounted");
        }

        Serial = "SN-" + Guid.NewGuid().ToString("N")[..8];
        controller.State.AllowedSerials[Serial] = true;
        controller.WriteConfigDirectory(ConfigDir, softSerial: Serial);
        Run = new AgentTestRun(ConfigDir, StateDir);
        Run.Options = Run.Options with { Apps = AppTestHost.Options };
    }

    public EveControllerFixture Controller { get; }

    public EveControllerState State => Controller.State;

    public TestRegistry? Registry { get; }

    public string ConfigDir { get; }

    public string StateDir { get; }

    public string Serial { get; }

    public AgentTestRun Run { get; }

    public string DatastoreId { get; } = Guid.NewGuid().ToString();

    public string? DeviceUuid => State.DevicesBySerial.TryGetValue(Serial, out var device) ? device.Uuid : null;

    /// <summary>A controller and, with <paramref name="withRegistry"/>, a registry with demo/busybox:1 and a datastore for it in every config.</summary>
    /// <param name="stateOnExt4">With <paramref name="stateSizeBytes"/>: the state directory on a loop-mounted ext4 instead of a tmpfs.</param>
    public static async Task<AgentScenario> StartAsync(bool withRegistry = true, long? stateSizeBytes = null, TestPki? pki = null, bool stateOnExt4 = false)
    {
        var controller = new EveControllerFixture(pki);
        await controller.StartAsync();
        TestRegistry? registry = null;
        if (withRegistry)
        {
            registry = await TestRegistry.StartAsync();
            using var client = new RegistryClient();
            await TestImages.PushAsync(client, $"{registry.Host}/demo/busybox:1", [TestImages.BusyboxLayer()], ["/bin/sh"]);
        }

        return new AgentScenario(controller, registry, stateSizeBytes, stateOnExt4);
    }

    /// <summary>Puts the datastore and every app of <paramref name="apps"/> into each config the controller serves, after <paramref name="more"/>.</summary>
    public void Serve(IReadOnlyList<(TestApp App, string Command)> apps, Action<EdgeDevConfig>? more = null) =>
        State.ExtendConfig = config =>
        {
            if (Registry is not null)
            {
                config.Datastores.Add(new DatastoreConfig { Id = DatastoreId, DType = DsType.DsContainerRegistry, Fqdn = "docker://" + Registry.Host });
            }

            foreach (var (app, command) in apps)
            {
                AppTestHost.AddAppTo(config, app, DatastoreId, "demo/busybox:1", command: command);
            }

            more?.Invoke(config);
        };

    public static TestApp NewApp(string name) => new(Guid.NewGuid().ToString(), Guid.NewGuid().ToString(), Guid.NewGuid().ToString(), name);

    public void Start()
    {
        _stop = new CancellationTokenSource();
        _agent = Run.Start(_stop.Token);
    }

    /// <summary>Stops the agent (as SIGTERM would) and returns its exit code.</summary>
    public async Task<int> StopAsync()
    {
        await _stop!.CancelAsync();
        return await WaitForExitAsync();
    }

    /// <summary>Waits for the agent to end by itself (a simulated reboot) and returns its exit code.</summary>
    public async Task<int> WaitForExitAsync()
    {
        var code = await _agent!.WaitAsync(AgentTestRun.Patience);
        _stop!.Dispose();
        _stop = null;
        return code;
    }

    /// <summary>
    /// Makes the state file system fail every operation with EIO from now on, as a dying disk does: the kernel's
    /// FS_IOC_SHUTDOWN (xfstests' "godown"), without flushing the journal. Needs <c>stateOnExt4</c>.
    /// </summary>
    public void FailStateDisk()
    {
        using var handle = File.OpenHandle(Path.Combine(StateDir, ".shutdown-handle"), FileMode.Create, FileAccess.Write);
        var flags = FsShutdownNoLogFlush;
        if (Ioctl(handle, FsIocShutdown, ref flags) != 0)
        {
            throw new IOException($"FS_IOC_SHUTDOWN on {StateDir} failed: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
        }
    }

    private const ulong FsIocShutdown = 0x8004587D; // _IOR('X', 125, __u32)
    private const uint FsShutdownNoLogFlush = 2;

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static extern int Ioctl(Microsoft.Win32.SafeHandles.SafeFileHandle fd, ulong request, ref uint flags);

    public bool IsRunning => _agent is { IsCompleted: false };

    public ZInfoApp? LatestApp(string uuid) => State.Infos.LastOrDefault(i => i.Ainfo?.AppID == uuid)?.Ainfo;

    public ZInfoDevice? LatestDevice() => State.Infos.LastOrDefault(i => i.Dinfo is not null)?.Dinfo;

    public Task WaitForAppAsync(string uuid, ZSwState state) =>
        Run.WaitUntilAsync(() => LatestApp(uuid)?.State == state, $"the controller got app {uuid} in state {state}");

    public async ValueTask DisposeAsync()
    {
        if (_stop is not null)
        {
            await _stop.CancelAsync();
            try
            {
                await _agent!.WaitAsync(AgentTestRun.Patience);
            }
            catch (Exception)
            {
                // The test failed already; what matters now is cleaning up.
            }
        }

        Run.Dispose();
        await Controller.DisposeAsync();
        Registry?.Dispose();
        await AppTestHost.CleanUpContainersAsync(StateDir, _temp.Path);
        _temp.Dispose();
    }
}
