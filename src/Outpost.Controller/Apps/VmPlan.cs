using System.Text;
using Org.Lfedge.Eve.Common;
using Org.Lfedge.Eve.Config;

namespace Outpost.Controller.Apps;

/// <summary>
/// A VM app's settings, checked and resolved to what EVE's wire carries: the disk format on the ContentTree, the disk
/// size on the Volume, and VmConfig plus cloud-init user-data on the AppInstanceConfig. The stored config is the only
/// record of an app, so <see cref="Describe"/> reads the settings back from those same fields.
/// </summary>
internal sealed record VmPlan(
    long MemoryMiB,
    int Vcpus,
    string CpuSet,
    VmBootMode BootMode,
    Format DiskFormat,
    long DiskSizeBytes,
    string CloudInit,
    bool EnableVnc,
    string KernelArgs,
    bool RemoteConsole,
    IReadOnlyList<VmAdapter> Adapters)
{
    /// <summary>A kernel to boot directly, a disk artifact in the image's registry; null: the firmware boots the disk.</summary>
    public Oci.References.ImageReference? Kernel { get; init; }

    public Oci.References.ImageReference? Initrd { get; init; }

    public const long DefaultMemoryMiB = 512;
    public const long MinMemoryMiB = 64;
    public const long MaxMemoryMiB = 1024L * 1024;
    public const int MaxVcpus = 64;
    public const long MaxDiskSizeBytes = 16L << 40;

    /// <summary>
    /// cloud-init user-data, as text: EVE puts userData into the app's config and every config poll carries it, so
    /// 64 KiB is its practical limit (and cloud-init's own for some datasources).
    /// </summary>
    public const int MaxCloudInitBytes = 64 * 1024;

    /// <summary>Linux's COMMAND_LINE_SIZE on x86.</summary>
    public const int MaxKernelArgsLength = 2048;

    /// <exception cref="AppRequestException">A setting is out of range; the message says which and what to give instead.</exception>
    public static VmPlan From(VmSettings settings)
    {
        var memory = settings.MemoryMiB ?? DefaultMemoryMiB;
        if (memory < MinMemoryMiB)
        {
            throw new AppRequestException($"vm.memoryMiB is {memory}: a VM needs at least {MinMemoryMiB} MiB of memory. Give --memory {MinMemoryMiB}MiB or more.");
        }

        if (memory > MaxMemoryMiB)
        {
            throw new AppRequestException($"vm.memoryMiB is {memory}: at most 1 TiB ({MaxMemoryMiB} MiB) can be given to a VM. Give --memory 1TiB or less.");
        }

        var vcpus = settings.Vcpus ?? 1;
        if (vcpus is < 1 or > MaxVcpus)
        {
            throw new AppRequestException($"vm.vcpus is {vcpus}: a VM has 1 to {MaxVcpus} vCPUs. Give --cpus between 1 and {MaxVcpus}.");
        }

        var cpuSet = settings.CpuSet ?? "";
        if (cpuSet.Length > 0 && CpuList.Problem(cpuSet) is { } problem)
        {
            throw new AppRequestException(
                $"vm.cpuSet '{Shorten(cpuSet)}' is not a Linux CPU list: {problem}. Give --cpu-set as CPU numbers below {CpuList.MaxCpus} and ascending ranges, comma-separated, e.g. 0-3,6.");
        }

        var bootMode = settings.BootMode?.Trim().ToLowerInvariant() switch
        {
            null or "" or "bios" => VmBootMode.Legacy,
            "uefi" => VmBootMode.Uefi,
            _ => throw new AppRequestException($"Unknown vm.bootMode '{Shorten(settings.BootMode)}'; use bios (legacy BIOS, the default) or uefi (OVMF, --uefi)."),
        };
        var format = settings.DiskFormat?.Trim().ToLowerInvariant() switch
        {
            null or "" or "qcow2" => Format.Qcow2,
            "raw" => Format.Raw,
            "iso" => Format.Iso,
            _ => throw new AppRequestException($"Unknown vm.diskFormat '{Shorten(settings.DiskFormat)}'; use qcow2 (the default), raw or iso (--disk-format)."),
        };

        var diskSize = settings.DiskSizeBytes ?? 0;
        if (diskSize < 0)
        {
            throw new AppRequestException($"vm.diskSizeBytes is negative ({diskSize}); give the disk's size (--disk-size 8GiB), or 0 to keep the image's size.");
        }

        if (diskSize > MaxDiskSizeBytes)
        {
            throw new AppRequestException($"vm.diskSizeBytes is {diskSize}: a VM disk is at most 16 TiB ({MaxDiskSizeBytes} bytes). Give a smaller --disk-size.");
        }

        if (format == Format.Iso && diskSize > 0)
        {
            throw new AppRequestException(
                "An iso image is attached as a CD-ROM, which is read-only, so it cannot be given a disk size: drop vm.diskSizeBytes (--disk-size), or deploy a qcow2 or raw disk.");
        }

        var cloudInit = settings.CloudInit ?? "";
        var cloudInitBytes = Encoding.UTF8.GetByteCount(cloudInit);
        if (cloudInitBytes > MaxCloudInitBytes)
        {
            throw new AppRequestException(
                $"vm.cloudInit is {cloudInitBytes} bytes; 64 KiB ({MaxCloudInitBytes} bytes) is EVE's practical limit for an app's user data. " +
                "Shorten the --cloud-init file: have it fetch larger files (e.g. cloud-init's #include of a URL) instead of carrying them.");
        }

        var kernelArgs = settings.KernelArgs ?? "";
        if (kernelArgs.Length > MaxKernelArgsLength || kernelArgs.Any(char.IsControl))
        {
            throw new AppRequestException($"vm.kernelArgs must be one line of at most {MaxKernelArgsLength} characters (Linux's command line limit).");
        }

        if (settings.Initrd is not null && settings.Kernel is null)
        {
            throw new AppRequestException("vm.initrd is given without vm.kernel: an initrd is only used when the device boots a kernel directly. Add --kernel REF.");
        }

        return new VmPlan(memory, vcpus, cpuSet, bootMode, format, diskSize, cloudInit, settings.EnableVnc, kernelArgs, settings.RemoteConsole, VmAdapters.From(settings))
        {
            Kernel = BootFile(settings.Kernel, "kernel"),
            Initrd = BootFile(settings.Initrd, "initrd"),
        };
    }

    /// <summary>
    /// EVE's direct kernel boot: the kernel and initrd are volumes of their own, each from a raw content tree in the
    /// image's datastore, with the Kernel or Initrd target; the device gives them to QEMU, not to the guest.
    /// </summary>
    public void AddBootFiles(EdgeDevConfig config, AppInstanceConfig app, string datastoreId, string registry)
    {
        foreach (var (reference, target, label) in new[] { (Kernel, Target.Kernel, "kernel"), (Initrd, Target.Initrd, "initrd") })
        {
            if (reference is null)
            {
                continue;
            }

            if (reference.Registry != registry)
            {
                throw new AppRequestException($"vm.{label} {reference} is in another registry than the image ({registry}); push it next to the image.");
            }

            var contentId = Guid.NewGuid().ToString();
            var volumeId = Guid.NewGuid().ToString();
            var content = AppService.RegistryContent(reference, Format.Raw);
            content.Uuid = contentId;
            content.DsId = datastoreId;
            content.DsIdsList.Add(datastoreId);
            config.ContentInfo.Add(content);
            config.Volumes.Add(new Volume
            {
                Uuid = volumeId,
                Origin = new VolumeContentOrigin { Type = VolumeContentOriginType.VcotDownload, DownloadContentTreeID = contentId },
                DisplayName = $"{app.Displayname}-{label}",
                Readonly = true,
                Target = target,
            });
            app.VolumeRefList.Add(new VolumeRef { Uuid = volumeId, GenerationCount = 0 });
        }
    }

    private static Oci.References.ImageReference? BootFile(string? text, string label)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        try
        {
            return Oci.References.ImageReference.Parse(text);
        }
        catch (Oci.Errors.InvalidImageReferenceException e)
        {
            throw new AppRequestException($"vm.{label} '{Shorten(text)}' is not an image reference: {e.Message} Push the file with `outpost image push-disk FILE --format raw REF`.");
        }
    }

    /// <summary>Writes the plan into the app's content tree, root volume and instance, and its host devices into the device's I/O list.</summary>
    public void Apply(EdgeDevConfig config, ContentTree content, Volume volume, AppInstanceConfig app)
    {
        VmAdapters.Apply(Adapters, config, app);
        content.Iformat = DiskFormat;
        volume.Maxsizebytes = DiskSizeBytes;
        // A CD-ROM: the device must not give it a writable overlay.
        volume.Readonly = DiskFormat == Format.Iso;
        app.Fixedresources = new VmConfig
        {
            Memory = (uint)(MemoryMiB * 1024),
            Vcpus = (uint)Vcpus,
            Cpus = CpuSet,
            VirtualizationMode = VmMode.Hvm,
            BootMode = BootMode,
            EnableVnc = EnableVnc,
            Extraargs = KernelArgs,
        };
        app.UserData = CloudInit.Length == 0 ? "" : Convert.ToBase64String(Encoding.UTF8.GetBytes(CloudInit));
        app.MetaDataType = MetaDataType.MetaDataDrive;
        app.RemoteConsole = RemoteConsole;
    }

    /// <summary>The settings of a VM app as its config holds them; null for a container app.</summary>
    public static VmSettings? Describe(EdgeDevConfig config, AppInstanceConfig app, Volume? volume, ContentTree? content)
    {
        // A container keeps Format.Container even when it will run isolated in a VM: only a disk image makes a VM app.
        if (content is null || content.Iformat is Format.Container or Format.FmtUnknown)
        {
            return null;
        }

        var resources = app.Fixedresources ?? new VmConfig();
        return new VmSettings(
            resources.Memory / 1024,
            (int)resources.Vcpus,
            resources.Cpus is { Length: > 0 } cpus ? cpus : null,
            resources.BootMode == VmBootMode.Uefi ? "uefi" : "bios",
            content.Iformat.ToString().ToLowerInvariant(),
            volume?.Maxsizebytes ?? 0,
            DecodeUserData(app.UserData),
            resources.EnableVnc,
            resources.Extraargs is { Length: > 0 } args ? args : null,
            app.RemoteConsole,
            Addresses(app, config, PhyIoType.PhyIoUsbdevice, "usbproduct", "usbaddr"),
            Addresses(app, config, PhyIoType.PhyIoCom, "serial"),
            Addresses(app, config, PhyIoType.PhyIoOther, "pcilong"),
            BootFileOf(config, app, Target.Kernel),
            BootFileOf(config, app, Target.Initrd));
    }

    private static string? BootFileOf(EdgeDevConfig config, AppInstanceConfig app, Target target)
    {
        var volume = config.Volumes.FirstOrDefault(v => v.Target == target && app.VolumeRefList.Any(r => r.Uuid == v.Uuid));
        return volume is null ? null : config.ContentInfo.FirstOrDefault(c => c.Uuid == volume.Origin?.DownloadContentTreeID)?.DisplayName;
    }

    /// <summary>The host addresses of the app's adapters of one type, as given at deploy; null when it has none.</summary>
    private static IReadOnlyList<string>? Addresses(AppInstanceConfig app, EdgeDevConfig config, PhyIoType type, params string[] keys)
    {
        var addresses = app.Adapters.Where(a => a.Type == type)
            .Select(a => config.DeviceIoList.FirstOrDefault(io => io.Assigngrp == a.Name))
            .Select(io => io is null ? null : keys.Select(k => io.Phyaddrs.GetValueOrDefault(k)).FirstOrDefault(v => v is { Length: > 0 }))
            .OfType<string>().ToList();
        return addresses.Count > 0 ? addresses : null;
    }

    // A config set by hand through the config API may hold anything; show it as it is rather than fail the app list.
    private static string? DecodeUserData(string userData)
    {
        if (userData.Length == 0)
        {
            return null;
        }

        var buffer = new byte[userData.Length];
        return Convert.TryFromBase64String(userData, buffer, out var written) ? Encoding.UTF8.GetString(buffer, 0, written) : userData;
    }

    private static string Shorten(string? text) => text is null ? "" : text.Length <= 40 ? text : text[..37] + "...";
}
