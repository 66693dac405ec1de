// The A/B update's disk work against `dd` on the same disk: SlotInstaller writes a rootfs into the other slot of a disk
// image, fsyncs, reads it back (page cache evicted) and compares SHA-256, and puts a kernel and initramfs on the ESP
// through the FAT editor. The baselines are `dd conv=fsync` of the same bytes into the same place (the floor for any
// writer), and dd + a read-back through `dd iflag=direct | sha256sum` (the same promise ours makes: written and
// verified). Usage: Outpost.Bench.SlotWrite [ROOTFS_MIB=256] [ROUNDS=3]
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Outpost.Disk;
using Outpost.Disk.Boot;
using Outpost.Disk.Fat;
using Outpost.Disk.Gpt;
using Outpost.Disk.Slots;

var rootfsMiB = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 256;
var rounds = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 3;
var work = Directory.CreateTempSubdirectory("outpost-bench-slotwrite-").FullName;
try
{
    const long MiB = 1 << 20;
    long espBytes = 64 * MiB, slotBytes = (rootfsMiB + 32) * MiB;
    var disk = Path.Combine(work, "disk.raw");
    var rootfs = Path.Combine(work, "rootfs.img");
    var kernel = RandomNumberGenerator.GetBytes(8 << 20);
    var initrd = RandomNumberGenerator.GetBytes(4 << 20);
    await using (var file = File.Create(rootfs))
    {
        var chunk = new byte[MiB];
        for (var i = 0; i < rootfsMiB; i++) { RandomNumberGenerator.Fill(chunk); file.Write(chunk); }
    }

    var layout = PartitionPlan.Layout(
    [
        new PartitionSpec(EvePartitions.EfiNumber, EvePartitions.EfiName, EvePartitions.EfiSystemType, EvePartitions.EfiUniqueGuid, espBytes, 0),
        new PartitionSpec(EvePartitions.ImgaNumber, EvePartitions.ImgaName, EvePartitions.UsrType, EvePartitions.ImgaUniqueGuid, slotBytes, PartitionState.Active.Encode(0)),
        new PartitionSpec(EvePartitions.ImgbNumber, EvePartitions.ImgbName, EvePartitions.UsrType, EvePartitions.ImgbUniqueGuid, slotBytes, PartitionState.Unused.Encode(0)),
    ]);
    await using (var stream = new FileStream(disk, FileMode.Create))
    {
        GptWriter.Write(stream, layout);
        var espPartition = layout.FindByName(EvePartitions.EfiName)!;
        var esp = FatDirectory.CreateRoot();
        esp.AddFile("loader/loader.conf", System.Text.Encoding.ASCII.GetBytes(SystemdBootEntries.LoaderConf));
        esp.AddFile(SystemdBootEntries.KernelPath("IMGA"), kernel);
        esp.AddFile(SystemdBootEntries.InitrdPath("IMGA"), initrd);
        var entry = SystemdBootEntries.For("IMGA", PartitionState.Active, "1", "console=ttyS0")!;
        esp.AddFile($"{SystemdBootEntries.EntriesDirectory}/{entry.FileName}", System.Text.Encoding.UTF8.GetBytes(entry.Content));
        using var espImage = new MemoryStream();
        await FatWriter.WriteAsync(espImage, esp, new FatVolumeOptions(espBytes, "EFI", new DateTime(2020, 1, 1, 0, 0, 0, DateTimeKind.Utc), 0x12345678));
        stream.Position = espPartition.ByteOffset;
        espImage.Position = 0;
        await espImage.CopyToAsync(stream);
    }

    var imgb = GptDisk.Read(File.OpenRead(disk)).FindByName(EvePartitions.ImgbName)!;
    var ours = new List<double>();
    var ddWrite = new List<double>();
    var ddVerified = new List<double>();
    for (var round = 0; round < rounds; round++)
    {
        var clock = Stopwatch.StartNew();
        await using (var stream = DiskStream.OpenReadWrite(disk))
        {
            var slots = AbSlots.Open(stream);
            await SlotInstaller.InstallAsync(slots, "IMGA", new SlotImage("2", () => File.OpenRead(rootfs), new BootPayload(kernel, initrd), "console=ttyS0"), null, CancellationToken.None);
            slots.ResetToUnused("IMGB"); // the next round starts from the same state
        }
        ours.Add(clock.Elapsed.TotalSeconds);

        var seek = imgb.ByteOffset / MiB;
        clock.Restart();
        Run("dd", $"if={rootfs} of={disk} bs=1M seek={seek} conv=notrunc,fsync status=none");
        ddWrite.Add(clock.Elapsed.TotalSeconds);
        clock.Restart();
        Run("dd", $"if={rootfs} of={disk} bs=1M seek={seek} conv=notrunc,fsync status=none");
        Run("sh", $"-c \"dd if={disk} bs=1M skip={seek} count={rootfsMiB} iflag=direct status=none | sha256sum >/dev/null\"");
        ddVerified.Add(clock.Elapsed.TotalSeconds);
    }

    double Best(List<double> s) => s.Min();
    double Rate(double seconds) => rootfsMiB / seconds;
    Console.WriteLine(FormattableString.Invariant($"rootfs {rootfsMiB} MiB + kernel 8 MiB + initrd 4 MiB, {rounds} rounds, best of each"));
    Console.WriteLine(FormattableString.Invariant($"SlotInstaller (write + fsync + read-back SHA-256 + ESP payload + GPT/entry flips): {Best(ours):0.00} s = {Rate(Best(ours)):0} MiB/s"));
    Console.WriteLine(FormattableString.Invariant($"dd conv=fsync (write only):                  {Best(ddWrite):0.00} s = {Rate(Best(ddWrite)):0} MiB/s; ours/dd = {Best(ours) / Best(ddWrite):0.00}x the time"));
    Console.WriteLine(FormattableString.Invariant($"dd conv=fsync + dd iflag=direct | sha256sum: {Best(ddVerified):0.00} s = {Rate(Best(ddVerified)):0} MiB/s; ours/(dd+verify) = {Best(ours) / Best(ddVerified):0.00}x the time"));
}
finally
{
    Directory.Delete(work, recursive: true);
}

static void Run(string program, string arguments)
{
    using var process = Process.Start(new ProcessStartInfo(program, arguments) { UseShellExecute = false })!;
    process.WaitForExit();
    if (process.ExitCode != 0) throw new InvalidOperationException($"{program} {arguments} exited {process.ExitCode}");
}
