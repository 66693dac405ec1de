using System.Security.Cryptography;
using Outpost.Disk.Gpt;
using Outpost.Disk.Install;

namespace Outpost.Disk.Tests.Install;

public sealed class LiveInstallerTests : IDisposable
{
    private const long MiB = PartitionPlan.MiB;
    private static readonly InstallOptions SmallPersist = new() { MinimumPersistBytes = 4 * MiB };
    private readonly TempDirectory _temp = new();
    private readonly SyntheticInstallerDisk _installer;

    public LiveInstallerTests()
    {
        _installer = SyntheticInstallerDisk.Create(_temp.File("installer.raw"));
    }

    public void Dispose() => _temp.Dispose();

    private static byte[] Slice(string disk, GptPartition partition, long? length = null)
    {
        using var stream = File.OpenRead(disk);
        var bytes = new byte[length ?? partition.ByteLength];
        stream.Position = partition.ByteOffset;
        stream.ReadExactly(bytes);
        return bytes;
    }

    [Fact]
    public async Task InstallWritesTheLiveGptWithEveNumbersNamesTypesAndAbStatesAndP3TakesTheRest()
    {
        var target = SyntheticInstallerDisk.UsedDisk(_temp.File("target.img"), 64 * MiB);

        var result = await LiveInstaller.InstallOntoAsync(_installer.Path, target, SmallPersist, null, CancellationToken.None);

        using var disk = File.OpenRead(target);
        var layout = GptDisk.Read(disk);
        Assert.Equal(64 * MiB, layout.DiskSizeBytes);
        Assert.Equal(EvePartitions.DiskGuid, layout.DiskGuid);
        Assert.Equal(
            [
                $"1 EFI System {EvePartitions.EfiSystemType} {EvePartitions.EfiUniqueGuid} 0x4 2048-6143",
                $"2 IMGA {EvePartitions.UsrType} {EvePartitions.ImgaUniqueGuid} 0x102000000000000 6144-12287",
                $"3 IMGB {EvePartitions.UsrType} {EvePartitions.ImgbUniqueGuid} 0x0 12288-18431",
                $"4 CONFIG {EvePartitions.ConfigType} {EvePartitions.ConfigUniqueGuid} 0x0 18432-20479",
                // To the last whole MiB before the backup GPT: sector 131072 - 2048 - 1.
                $"9 P3 {EvePartitions.PersistType} {EvePartitions.PersistUniqueGuid} 0x0 20480-129023",
            ],
            layout.Partitions.OrderBy(p => p.Number).Select(p => $"{p.Number} {p.Name} {p.TypeGuid} {p.UniqueGuid} 0x{p.Attributes:x} {p.FirstLba}-{p.LastLba}"));
        Assert.Equal(("active", "unused"), (layout.Find(2)!.State.EveName, layout.Find(3)!.State.EveName));
        Assert.Equal(result.Layout.Partitions.OrderBy(p => p.Number), layout.Partitions.OrderBy(p => p.Number));
        Assert.Contains("No problems found", ExternalTool.RunOk("sgdisk", "-v", target).All);
        var printed = ExternalTool.RunOk("sgdisk", "-p", target).StdOut;
        foreach (var row in new[] { "EF00  EFI System", "IMGA", "IMGB", "CONFIG", "P3" })
        {
            Assert.Contains(row, printed);
        }
    }

    [Fact]
    public async Task InstalledPartitionsHoldTheInstallerDisksBytesAndImgbAndP3StartWithZeros()
    {
        var target = SyntheticInstallerDisk.UsedDisk(_temp.File("target.img"), 64 * MiB);

        var result = await LiveInstaller.InstallOntoAsync(_installer.Path, target, SmallPersist, null, CancellationToken.None);

        var layout = result.Layout;
        Assert.Equal(_installer.Contents[InstallerMedia.LiveEspName], Slice(target, layout.Find(EvePartitions.EfiNumber)!));
        var rootfs = _installer.Contents[EvePartitions.InstallerName];
        Assert.Equal(rootfs, Slice(target, layout.Find(EvePartitions.ImgaNumber)!, rootfs.Length));
        Assert.Equal(_installer.Contents[EvePartitions.ConfigName], Slice(target, layout.Find(EvePartitions.ConfigNumber)!));
        foreach (var zeroed in new[] { EvePartitions.ImgbNumber, EvePartitions.PersistNumber })
        {
            Assert.True(Slice(target, layout.Find(zeroed)!, MiB).AsSpan().IndexOfAnyExcept((byte)0) < 0, $"partition {zeroed} does not start with a MiB of zeros");
        }

        Assert.Equal(
            [
                ("EFI System", Convert.ToHexStringLower(SHA256.HashData(_installer.Contents[InstallerMedia.LiveEspName]))),
                ("IMGA", Convert.ToHexStringLower(SHA256.HashData(rootfs))),
                ("CONFIG", Convert.ToHexStringLower(SHA256.HashData(_installer.Contents[EvePartitions.ConfigName]))),
            ],
            result.Copies.Select(c => (c.Partition, c.Sha256)));
    }

    [Fact]
    public async Task ProgressSaysWhatWasCopiedFromWhereAndThatItReadBackTheSame()
    {
        var target = SyntheticInstallerDisk.UsedDisk(_temp.File("target.img"), 64 * MiB);
        var lines = new List<string>();

        await LiveInstaller.InstallOntoAsync(_installer.Path, target, SmallPersist, new ListProgress(lines), CancellationToken.None);

        Assert.StartsWith($"target: installing onto {target}, 64 MiB (67108864 bytes), from {_installer.Path}: 1 EFI System", lines[0]);
        Assert.Contains(lines, l => l.StartsWith($"IMGA: copied INSTALLER (partition 6 of {_installer.Path}) to partition 2; read back, SHA-256 ", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("P3: zeroed the first MiB of partition 9 so no stale file system is taken for the device's", StringComparison.Ordinal));
        Assert.Equal("gpt: wrote and read back the GPT of " + target + ": IMGA active, IMGB unused", lines[^1]);
    }

    [Fact]
    public async Task ATargetTooSmallIsRefusedWithItsSizeAndWhatIsNeededAndLeftUntouched()
    {
        var target = SyntheticInstallerDisk.UsedDisk(_temp.File("small.img"), 200 * MiB);
        var before = SHA256.HashData(File.ReadAllBytes(target));

        var refused = await Assert.ThrowsAsync<TargetDiskTooSmallException>(() =>
            LiveInstaller.InstallOntoAsync(_installer.Path, target, InstallOptions.Default, null, CancellationToken.None));

        // 1 MiB + ESP 2 + IMGA 3 + IMGB 3 + CONFIG 1 + P3 256 + 1 MiB.
        Assert.Equal((200 * MiB, 267 * MiB), (refused.TargetBytes, refused.NeededBytes));
        Assert.Equal(
            $"{target} holds 200 MiB (209715200 bytes) but the installation needs 267 MiB (279969792 bytes): ESP 2 MiB (2097152 bytes), IMGA and IMGB 3 MiB (3145728 bytes) each, " +
            "CONFIG 1 MiB (1048576 bytes), persist (P3) at least 256 MiB (268435456 bytes), and 2 MiB for the partition tables. Nothing was written; install onto a larger disk.",
            refused.Message);
        Assert.Equal(before, SHA256.HashData(File.ReadAllBytes(target)));
    }

    [Fact]
    public async Task InstallingOntoTheBootDiskIsRefusedEvenThroughASymlink()
    {
        var link = _temp.File("by-id-installer");
        File.CreateSymbolicLink(link, _installer.Path);
        var before = SHA256.HashData(File.ReadAllBytes(_installer.Path));

        var refused = await Assert.ThrowsAsync<InstallRefusedException>(() =>
            LiveInstaller.InstallOntoAsync(_installer.Path, link, SmallPersist, null, CancellationToken.None));

        Assert.StartsWith($"Refusing to install onto {link}: it is the disk the installer booted from ({_installer.Path})", refused.Message);
        Assert.Equal(before, SHA256.HashData(File.ReadAllBytes(_installer.Path)));
    }

    [Fact]
    public async Task WithOnlyTheBootDiskOfferedNoTargetIsFound()
    {
        var refused = await Assert.ThrowsAsync<NoTargetDiskException>(() =>
            LiveInstaller.InstallAsync(_installer.Path, [_installer.Path], SmallPersist, null, CancellationToken.None));

        Assert.StartsWith($"No disk to install onto: the only disk found is {_installer.Path}, the installer itself.", refused.Message);
    }

    [Fact]
    public async Task TheFirstCandidateLargeEnoughIsUsedAndSmallerOnesArePassedOver()
    {
        var small = SyntheticInstallerDisk.UsedDisk(_temp.File("small.img"), 8 * MiB);
        var large = SyntheticInstallerDisk.UsedDisk(_temp.File("large.img"), 64 * MiB);
        var lines = new List<string>();

        var result = await LiveInstaller.InstallAsync(_installer.Path, [_installer.Path, small, large], SmallPersist, new ListProgress(lines), CancellationToken.None);

        Assert.Equal(large, result.TargetDisk);
        Assert.StartsWith($"target: passing over {small}: {small} holds 8 MiB", lines[0]);
        Assert.True(File.ReadAllBytes(small).AsSpan().IndexOfAnyExcept((byte)0xEE) < 0, "the small disk was written to");
    }

    [Fact]
    public async Task WhenEveryCandidateIsTooSmallTheRefusalNamesEachOne()
    {
        var first = SyntheticInstallerDisk.UsedDisk(_temp.File("first.img"), 8 * MiB);
        var second = SyntheticInstallerDisk.UsedDisk(_temp.File("second.img"), 12 * MiB);

        var refused = await Assert.ThrowsAsync<TargetDiskTooSmallException>(() =>
            LiveInstaller.InstallAsync(_installer.Path, [first, second], SmallPersist, null, CancellationToken.None));

        Assert.Equal(
            $"No disk is large enough; each needs 15 MiB (15728640 bytes): {first} holds 8 MiB (8388608 bytes); {second} holds 12 MiB (12582912 bytes). Nothing was written; attach a larger disk.",
            refused.Message);
    }

    [Fact]
    public async Task ADiskThatIsNotInstallerMediaIsRefusedNamingTheMissingPartition()
    {
        var old = SyntheticInstallerDisk.Create(_temp.File("old-installer.raw"), withLiveEsp: false);
        var target = SyntheticInstallerDisk.UsedDisk(_temp.File("target.img"), 64 * MiB);

        var refused = await Assert.ThrowsAsync<NotAnInstallerDiskException>(() =>
            LiveInstaller.InstallOntoAsync(old.Path, target, SmallPersist, null, CancellationToken.None));

        Assert.Equal(
            $"{old.Path} has no partition named LIVE_EFI (it has: 1 EFI System, 4 CONFIG, 5 INVENTORY, 6 INSTALLER), so it is not an Outpost installer disk made by this version. Rebuild installer.raw and boot from it.",
            refused.Message);
    }

    [Fact]
    public async Task InstallsOntoALoopDeviceWhoseSizeOnlyTheKernelKnows()
    {
        var backing = SyntheticInstallerDisk.UsedDisk(_temp.File("loop-backing.img"), 64 * MiB);
        var device = Losetup("--find", "--show", backing);
        try
        {
            using (var disk = DiskStream.OpenRead(device))
            {
                Assert.True(disk.IsBlockDevice, $"{device} should be a block device");
                Assert.Equal(64 * MiB, disk.Length);
            }

            var result = await LiveInstaller.InstallOntoAsync(_installer.Path, device, SmallPersist, null, CancellationToken.None);

            Assert.Equal(64 * MiB, result.TargetBytes);
        }
        finally
        {
            Losetup("--detach", device);
        }

        Assert.Contains("No problems found", ExternalTool.RunOk("sgdisk", "-v", backing).All);
        using var image = File.OpenRead(backing);
        var imga = GptDisk.Read(image).Find(EvePartitions.ImgaNumber)!;
        Assert.Equal(_installer.Contents[EvePartitions.InstallerName], Slice(backing, imga, _installer.Contents[EvePartitions.InstallerName].Length));
    }

    private static string Losetup(params string[] arguments) => ExternalTool.RunOk("losetup", arguments).StdOut.Trim();

    private sealed class ListProgress(List<string> lines) : IProgress<InstallProgress>
    {
        public void Report(InstallProgress value) => lines.Add($"{value.Step}: {value.Detail}");
    }
}
