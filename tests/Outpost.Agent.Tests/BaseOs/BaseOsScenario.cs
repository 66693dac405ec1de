using System.Security.Cryptography;
using System.Text.Json;
using Org.Lfedge.Eve.Config;
using Org.Lfedge.Eve.Info;
using Outpost.Agent.BaseOs;
using Outpost.Agent.Configuration;
using Outpost.Agent.Node;
using Outpost.Agent.Tests.Apps;
using Outpost.Agent.Tests.Fixtures;
using Outpost.Agent.Tests.Scenarios;
using Outpost.Api.OsImages;
using Outpost.Disk.Gpt;

namespace Outpost.Agent.Tests.BaseOs;

/// <summary>
/// The whole agent (every subsystem, <see cref="AgentHost"/>) against the EVE-spec fixture controller, with an
/// Outpost disk image as its boot disk (<see cref="BaseOsOptions.OpenDisk"/> through <see cref="DiskFaults"/>), OS
/// images in a real registry (Debian's docker-registry), the trusted key on CONFIG, and a config that names a
/// datastore, a content tree and EdgeDevConfig.baseos as a controller does for an update. The clock can be jumped
/// ahead (<see cref="Clock"/>) for the test window.
/// </summary>
public sealed class BaseOsScenario : IAsyncDisposable
{
    public const string V1 = "0.1.0";
    public const string V2 = "0.2.0";
    public const string V3 = "0.3.0";

    private readonly TempDirectory _temp = new();

    private BaseOsScenario(AgentScenario agent, string registry, OsBuild installed)
    {
        Agent = agent;
        Registry = registry;
        Disk = OsTestDisk.Create(Path.Combine(_temp.Path, "disk.img"), installed);
        Faults = new DiskFaults(Disk.Path);
    }

    public AgentScenario Agent { get; }

    public EveControllerState State => Agent.State;

    public AgentTestRun Run => Agent.Run;

    public OsTestDisk Disk { get; }

    public DiskFaults Faults { get; }

    public JumpingTimeProvider Clock { get; } = new();

    /// <summary>The registry (HOST:PORT) the datastore points at.</summary>
    public string Registry { get; set; }

    public string DatastoreId { get; } = Guid.NewGuid().ToString();

    public string ContentTreeId { get; } = Guid.NewGuid().ToString();

    /// <summary>The OS version EdgeDevConfig.baseos asks for; null: no BaseOS in the config.</summary>
    public string? WantedVersion { get; set; }

    /// <summary>The image the content tree names.</summary>
    public PushedOsImage? Image { get; set; }

    /// <summary>The sha256 the content tree pins; null: the image's manifest digest, as the controller sends it.</summary>
    public string? ContentSha256 { get; set; }

    public uint RetryCounter { get; set; }

    public bool Activate { get; set; } = true;

    /// <summary>Reboots the agent asked for when it runs with <see cref="HoldReboots"/>.</summary>
    public HeldPower Power { get; } = new();

    public string StateFile => Path.Combine(Agent.StateDir, "baseos", "state.json");

    /// <summary>
    /// A device running <paramref name="running"/> from <paramref name="bootLabel"/> of a disk whose IMGA holds
    /// <paramref name="installed"/> (active); the signing key's public half on CONFIG unless <paramref name="trustKey"/> is false.
    /// </summary>
    public static async Task<BaseOsScenario> StartAsync(string registry, ECDsa key, OsBuild installed, string running = V1, string bootLabel = EvePartitions.ImgaName, bool trustKey = true)
    {
        var agent = await AgentScenario.StartAsync(withRegistry: false);
        var scenario = new BaseOsScenario(agent, registry, installed);
        if (trustKey)
        {
            File.WriteAllText(Path.Combine(agent.ConfigDir, OsImageArtifact.TrustedKeyFile), OsImages.PublicPem(key));
        }

        agent.Run.Options = agent.Run.Options with
        {
            AgentVersion = running,
            TimeProvider = scenario.Clock,
            BaseOs = new BaseOsOptions
            {
                OpenDisk = scenario.Faults.Open,
                BootLabel = bootLabel,
                Cmdline = $"BOOT_IMAGE=/EFI/outpost/{bootLabel}/vmlinuz root=PARTLABEL={bootLabel} {OsTestDisk.Cmdline}",
                PollInterval = TimeSpan.FromMilliseconds(200),
            },
            Apps = AppTestHost.Options with
            {
                Content = AppTestHost.Options.Content with { RetryFirst = TimeSpan.FromMilliseconds(500), RetryMax = TimeSpan.FromSeconds(2) },
            },
        };
        agent.State.ExtendConfig = scenario.Extend;
        return scenario;
    }

    /// <summary>Ask for <paramref name="version"/> from <paramref name="image"/>.</summary>
    public void Want(string version, PushedOsImage image)
    {
        Image = image;
        WantedVersion = version;
    }

    /// <summary>Sets (or, with null, removes) a config item in every config served from now on.</summary>
    public void SetConfigItem(string key, string? value)
    {
        lock (State.ConfigItems)
        {
            State.ConfigItems.RemoveAll(i => i.Key == key);
            if (value is not null)
            {
                State.ConfigItems.Add(new ConfigItem { Key = key, Value = value });
            }
        }
    }

    /// <summary>The shortest test window EVE allows.</summary>
    public void ShortestTestWindow() => SetConfigItem(ConfigItemSettings.TestWindowKey, "30");

    /// <summary>A reboot is then recorded in <see cref="Power"/> and the agent keeps running, as while a real reboot takes its time.</summary>
    public void HoldReboots() => Run.Options = Run.Options with { PowerOverride = Power };

    public void Start() => Agent.Start();

    public Task<int> StopAsync() => Agent.StopAsync();

    public Task<int> WaitForExitAsync() => Agent.WaitForExitAsync();

    /// <summary>Writes BaseOs's state file as an earlier run would have left it.</summary>
    public void SeedState(BaseOsRecord record)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(StateFile)!);
        File.WriteAllBytes(StateFile, JsonSerializer.SerializeToUtf8Bytes(record));
    }

    public BaseOsRecord? ReadState() => File.Exists(StateFile) ? JsonSerializer.Deserialize<BaseOsRecord>(File.ReadAllBytes(StateFile)) : null;

    public static BaseOsRecord Record(params (string Label, OsBuild Build)[] slots) => new()
    {
        Slots = slots.ToDictionary(s => s.Label, s => new SlotContent(s.Build.Version, Convert.ToHexStringLower(SHA256.HashData(s.Build.Rootfs))), StringComparer.Ordinal),
    };

    /// <summary>The reason the node subsystem recorded for the reboot it carried out (STATE/node/reboot-reason.json).</summary>
    public BootReason? RecordedRebootReason()
    {
        var path = Path.Combine(Agent.StateDir, "node", "reboot-reason.json");
        if (!File.Exists(path))
        {
            return null;
        }

        using var json = JsonDocument.Parse(File.ReadAllBytes(path));
        var reason = json.RootElement.GetProperty("Reason");
        return reason.ValueKind == JsonValueKind.Number ? (BootReason)reason.GetInt32() : Enum.Parse<BootReason>(reason.GetString()!, ignoreCase: true);
    }

    /// <summary>Every device info the controller got, oldest first.</summary>
    public IReadOnlyList<ZInfoDevice> DeviceInfos() => State.Infos.Where(i => i.Dinfo is not null).Select(i => i.Dinfo).ToList();

    /// <summary>The swList entry for one slot in the latest device info.</summary>
    public ZInfoDevSW? Sw(string label) => Agent.LatestDevice()?.SwList.FirstOrDefault(s => s.PartitionLabel == label);

    public Task WaitForSwAsync(string label, Func<ZInfoDevSW, bool> condition, string what) =>
        Run.WaitUntilAsync(() => Sw(label) is { } sw && condition(sw), $"the controller got {label}'s swList entry {what} (latest: {Sw(label)})");

    public ZInfoContentTree? LatestContent() => State.Infos.LastOrDefault(i => i.Cinfo?.Uuid == ContentTreeId)?.Cinfo;

    /// <summary>Waits until the controller has received <paramref name="count"/> more device infos than now (each one a finished look at the slots).</summary>
    public async Task WaitForMoreDeviceInfosAsync(int count)
    {
        var now = DeviceInfos().Count;
        await Run.WaitUntilAsync(() => DeviceInfos().Count >= now + count, $"{count} more device infos");
    }

    /// <summary>Waits until the agent has fetched <paramref name="count"/> more configs (so it has what the controller serves now).</summary>
    public async Task WaitForConfigPollsAsync(int count)
    {
        var now = Volatile.Read(ref State.ConfigRequests);
        await Run.WaitUntilAsync(() => Volatile.Read(ref State.ConfigRequests) >= now + count, $"{count} more config requests");
    }

    /// <summary>IMGA still active and booted next, IMGB unused with no entry and no bytes of the update: the disk as made.</summary>
    public void AssertUntouched(string sha256Before)
    {
        Assert.Equal(PartitionState.Active, Disk.State(EvePartitions.ImgaName));
        Assert.Equal(PartitionState.Unused, Disk.State(EvePartitions.ImgbName));
        Assert.Equal(["outpost-imga.conf"], Disk.EntryFiles());
        Assert.Equal((EvePartitions.ImgaName, EvePartitions.ImgaName), Disk.NextBoot());
        Assert.Equal(sha256Before, Disk.Sha256());
    }

    private void Extend(EdgeDevConfig config)
    {
        config.Datastores.Add(new DatastoreConfig { Id = DatastoreId, DType = DsType.DsContainerRegistry, Fqdn = "docker://" + Registry });
        if (Image is { } image)
        {
            config.ContentInfo.Add(new ContentTree
            {
                Uuid = ContentTreeId,
                DsId = DatastoreId,
                DsIdsList = { DatastoreId },
                URL = image.Url,
                Iformat = Format.Container,
                Sha256 = ContentSha256 ?? image.Digest.Hex,
                DisplayName = "outpost-os-" + WantedVersion,
            });
        }

        if (WantedVersion is { } version)
        {
            config.Baseos = new BaseOS
            {
                ContentTreeUuid = ContentTreeId,
                BaseOsVersion = version,
                Activate = Activate,
                RetryUpdate = new DeviceOpsCmd { Counter = RetryCounter },
            };
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Agent.DisposeAsync();
        _temp.Dispose();
    }
}

/// <summary>A reboot that is recorded and then takes forever (the agent goes on running, as until the host goes down).</summary>
public sealed class HeldPower : INodePower
{
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _reasons = new();

    public IReadOnlyCollection<string> Reasons => _reasons;

    public async Task RebootAsync(string reason, CancellationToken cancellationToken)
    {
        _reasons.Enqueue(reason);
        await Task.Delay(Timeout.Infinite, cancellationToken);
    }
}
