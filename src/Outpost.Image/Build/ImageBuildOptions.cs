using Outpost.Image.Disks;
using Outpost.Image.Sources;

namespace Outpost.Image.Build;

/// <summary>Disk formats beyond rootfs.tar and rootfs.img, which are always written.</summary>
[Flags]
public enum OutputFormats
{
    None = 0,
    Raw = 1,
    Qcow2 = 2,
    Installer = 4,
    All = Raw | Qcow2 | Installer,
}

/// <summary>Everything an image build needs; only the spec path and output directory are required.</summary>
public sealed record ImageBuildOptions
{
    /// <summary>The linuxkit-format YAML. Relative <c>oci:</c> paths and file sources resolve from its folder.</summary>
    public required string SpecPath { get; init; }
    public required string OutputDirectory { get; init; }

    /// <summary>OS version, written to /etc/outpost-release and the boot entries.</summary>
    public string Version { get; init; } = "0.0.0-dev";

    /// <summary>Target architecture; only amd64 is supported today.</summary>
    public string Architecture { get; init; } = "amd64";

    /// <summary>Hypervisor flavour recorded in the release file (EVE's eve-hv-type: kvm, xen, kubevirt...).</summary>
    public string Hypervisor { get; init; } = "kvm";

    /// <summary>Platform recorded in the release file (EVE's eve-platform: generic, nvidia...).</summary>
    public string Platform { get; init; } = "generic";

    public OutputFormats Formats { get; init; } = OutputFormats.Raw;

    /// <summary>Fixed time for every generated entry and upper bound for image entries. Null: the SOURCE_DATE_EPOCH environment variable, else linuxkit's fixed 2017 date.</summary>
    public long? SourceDateEpoch { get; init; }

    /// <summary>Folder whose files become the CONFIG partition (server, root-certificate.pem, onboard.cert.pem, onboard.key.pem, DevicePortConfig/override.json...).</summary>
    public string? ConfigDirectory { get; init; }

    /// <summary>
    /// An Outpost OS image (spec section <c>outpost:</c>) without <see cref="ConfigDirectory"/> is refused unless this
    /// says the CONFIG partition is written later, per device (<c>outpost lab</c> does that to one build).
    /// </summary>
    public bool ConfigWrittenLater { get; init; }

    /// <summary>
    /// Finds (or builds) the Native AOT device binary (PID 1 + agent) an Outpost OS image carries; called only when the
    /// spec has an <c>outpost:</c> section, because building the binary takes a minute. See <c>outpost image build --device-binary</c>.
    /// </summary>
    public Func<CancellationToken, Task<string>>? DeviceBinary { get; init; }

    public DiskSizes Sizes { get; init; } = new();

    /// <summary>systemd-boot EFI binary; null means Debian's path.</summary>
    public string? SystemdBootPath { get; init; }

    /// <summary>Where images come from; null means local layouts only (offline).</summary>
    public IImageSource? ImageSource { get; init; }
}
