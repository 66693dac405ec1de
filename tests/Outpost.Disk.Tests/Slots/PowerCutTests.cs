using System.Diagnostics;
using Outpost.Disk.Boot;
using Outpost.Disk.Gpt;
using Outpost.Disk.Slots;
using Outpost.PowerCut;
using Xunit.Abstractions;

namespace Outpost.Disk.Tests.Slots;

/// <summary>
/// The power-cut harness (tests/Outpost.PowerCut) run small: the states a power loss can leave (replayed from the
/// recorded writes) and the states a SIGKILLed child leaves, each judged by both boot rules and by the agent's
/// convergence. The benchmark runs the same with thousands of cuts (bench/scripts/power-cut.sh).
/// </summary>
public sealed class PowerCutTests(ITestOutputHelper output)
{
    [Fact]
    public async Task EveryReplayedPowerLossStateBootsAVerifiedSlotAndConverges()
    {
        var clock = Stopwatch.StartNew();
        var report = await ReplayHarness.RunAsync(new ReplayOptions(Cuts: 300, Seed: 20240607));
        output.WriteLine(report.ToString());
        AssertClean(report);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(90), $"the replay took {clock.Elapsed}");
    }

    [Fact]
    public async Task EveryStateASigkilledUpdateLeavesBootsAVerifiedSlotAndConverges()
    {
        var report = await KillHarness.RunAsync(new KillOptions(Cuts: 100, Seed: 424242));
        output.WriteLine(report.ToString());
        AssertClean(report);
    }

    private static void AssertClean(PowerCutReport report)
    {
        Assert.True(report.Unbootable == 0, report.ToString());
        Assert.True(report.WrongCommits == 0, report.ToString());
        Assert.True(report.NotConverged == 0, report.ToString());
        Assert.True(report.Errors == 0, report.ToString());
        foreach (var phase in new[] { Phases.Payload, Phases.Rootfs, Phases.MarkUpdating, Phases.Commit })
            Assert.True(report.CutsIn(phase) >= 1, $"no cut landed in {phase}:\n{report}");
        Assert.True(report.CutsIn(Phases.Boot) + report.CutsIn(Phases.Reconcile) >= 1, $"no cut landed in boot/reconcile:\n{report}");
    }
}

/// <summary>The A/B slot code on the harness's disk: the states each step leaves, fallback, refusals and write errors.</summary>
public sealed class AbSlotsTests
{
    private const string Imga = EvePartitions.ImgaName;
    private const string Imgb = EvePartitions.ImgbName;

    private static SlotImage V2 => OsImages.V2.ToSlotImage(OsImages.Cmdline);

    [Fact]
    public async Task InstallBootReconcileCommitLeaveEvesStatesAndTheMatchingEntries()
    {
        using var disk = new MemoryStream(DiskScenario.BuildDisk());
        var slots = AbSlots.Open(disk);
        Assert.Equal(PartitionState.Active, slots.State(Imga));
        Assert.Equal(new[] { "outpost-imga.conf" }, EntryFiles(slots));

        var written = await SlotInstaller.InstallAsync(slots, Imga, V2, null, CancellationToken.None);
        Assert.Equal(OsImages.V2.Rootfs.Length, written.BytesWritten);
        Assert.Equal(0x13, slots.State(Imgb).EveValue);
        Assert.Equal(0x102, slots.State(Imga).EveValue);
        Assert.Equal(new[] { "outpost-imga.conf", "outpost-imgb+1.conf" }, EntryFiles(slots));
        Assert.Same(OsImages.V2, CrashChecker.Verify(disk.ToArray(), Imgb));

        var boot = Firmware.Boot(disk)!;
        Assert.Equal("outpost-imgb+1.conf", boot.Choice.Entry.Name.FileName);
        Assert.Equal(Imgb, boot.RootLabel);
        Assert.Equal(new[] { "outpost-imga.conf", "outpost-imgb+0-1.conf" }, EntryFiles(slots));

        Assert.Equal(PartitionState.InProgress, slots.ReconcileAfterBoot(Imgb, OsImages.Cmdline, VersionOf));
        Assert.Equal(0x3, slots.State(Imgb).EveValue);
        Assert.Equal(new[] { "outpost-imga.conf", "outpost-imgb+0-1.conf" }, EntryFiles(slots));

        slots.Commit(Imgb, OsImages.V2.Version, OsImages.Cmdline);
        Assert.Equal(0x102, slots.State(Imgb).EveValue);
        Assert.Equal(0, slots.State(Imga).EveValue);
        Assert.Equal(new[] { "outpost-imgb.conf" }, EntryFiles(slots));
        Assert.Empty(slots.EntriesOf(Imga));
        Assert.Equal(Imgb, BootSelection.Choose(slots.Gpt.Partitions)!.Partition.Name);
        Assert.Equal(Imgb, SystemdBootSelection.Choose(slots.Entries())!.Entry.RootPartLabel);
    }

    [Fact]
    public async Task ABootWithoutCommitFallsBackToImgaAndLeavesImgbInprogress()
    {
        using var disk = new MemoryStream(DiskScenario.BuildDisk());
        var slots = AbSlots.Open(disk);
        await SlotInstaller.InstallAsync(slots, Imga, V2, null, CancellationToken.None);
        Assert.Equal(Imgb, Firmware.Boot(disk)!.RootLabel);
        slots.ReconcileAfterBoot(Imgb, OsImages.Cmdline, VersionOf);

        // The new image crashes before its test window ends: the next boot spends no try on the bad entry.
        var fallback = Firmware.Boot(disk)!;
        Assert.Equal(Imga, fallback.RootLabel);
        Assert.False(fallback.Choice.Renames);
        Assert.Equal(PartitionState.Active, slots.ReconcileAfterBoot(Imga, OsImages.Cmdline, VersionOf));
        Assert.Equal(PartitionState.InProgress, slots.State(Imgb));
        Assert.Equal(Imga, BootSelection.Choose(slots.Gpt.Partitions)!.Partition.Name);
        Assert.Equal(Imga, SystemdBootSelection.Choose(slots.Entries())!.Entry.RootPartLabel);
        Assert.Equal(new[] { "outpost-imga.conf", "outpost-imgb+0-1.conf" }, EntryFiles(slots));
    }

    [Theory]
    [InlineData(0x0)]
    [InlineData(0x3)]
    public void InstallRefusesWhenTheRunningSlotIsNotBootable(int eveState)
    {
        using var image = new MemoryStream(DiskScenario.BuildDisk());
        var imga = GptDisk.Read(image).FindByName(Imga)!;
        GptDisk.UpdateAttributes(image, imga.Number, PartitionState.FromAttributes((ulong)eveState << 48).Encode(imga.Attributes));
        var before = image.ToArray();
        using var disk = new RecordingStream(image);

        var error = Assert.Throws<SlotLayoutException>(() => SlotInstaller.InstallAsync(AbSlots.Open(disk), Imga, V2, null, CancellationToken.None).GetAwaiter().GetResult());
        Assert.Contains("not bootable", error.Message);
        Assert.Equal(0, disk.Writes);
        Assert.True(before.AsSpan().SequenceEqual(image.ToArray()));
    }

    [Fact]
    public async Task AnImageLargerThanTheSlotIsRefusedBeforeAnythingIsWritten()
    {
        using var image = new MemoryStream(DiskScenario.BuildDisk());
        var before = image.ToArray();
        using var disk = new RecordingStream(image);
        var slots = AbSlots.Open(disk);
        var tooBig = new byte[slots.Partition(Imgb).ByteLength + 1];

        await Assert.ThrowsAsync<PartitionTooSmallException>(() => SlotInstaller.InstallAsync(slots, Imga,
            new SlotImage("9.9", () => new MemoryStream(tooBig), OsImages.V2.Payload, OsImages.Cmdline), null, CancellationToken.None));
        Assert.Equal(0, disk.Writes);
        Assert.True(before.AsSpan().SequenceEqual(image.ToArray()), "the disk changed");
    }

    [Fact]
    public async Task AWriteErrorAtAnyPointOfTheInstallLeavesABootableDiskAndARetrySucceeds()
    {
        // How many writes a clean install makes, and which of them is the first that marks IMGB updating.
        int total, firstMarking;
        using (var probe = new RecordingStream(new MemoryStream(DiskScenario.BuildDisk())))
        {
            var step = SlotInstallStep.ResettingSlot;
            // Rootfs progress arrives late from the thread pool: steps only move forward.
            await SlotInstaller.InstallAsync(AbSlots.Open(probe), Imga, V2, new StepProgress(s =>
            {
                if (s <= step) return;
                step = s;
                probe.Phase = s.ToString();
            }), CancellationToken.None);
            total = probe.Writes;
            firstMarking = probe.Ops.Where(o => !o.IsBarrier).ToList().FindIndex(o => o.Phase == nameof(SlotInstallStep.MarkingUpdating)) + 1;
        }
        Assert.True(total > 4 && firstMarking > 0, $"{total} writes, marking from #{firstMarking}");

        for (int n = 1; n <= total; n++)
        {
            var image = DiskScenario.BuildDisk();
            using var disk = new RecordingStream(new MemoryStream(image)) { FailOnWrite = n, FailPermanently = true };
            var slots = AbSlots.Open(disk);
            await Assert.ThrowsAnyAsync<Exception>(() => SlotInstaller.InstallAsync(slots, Imga, V2, null, CancellationToken.None));

            var problems = CrashChecker.BootProblems(image);
            Assert.True(problems.Count == 0, $"write #{n} of {total} failed: {string.Join("; ", problems)} | {CrashChecker.Describe(image)}");
            var entries = AbSlots.Open(new MemoryStream(image)).Entries();
            Assert.Equal(Imga, SystemdBootSelection.Choose(entries)!.Entry.RootPartLabel);
            var gptprio = BootSelection.Choose(GptDisk.Read(new MemoryStream(image)).Partitions)!.Partition.Name;
            // Once the GPT says updating (the failure hit the entry write after it), gptprio boots the complete v2.
            Assert.True(gptprio == Imga || (n >= firstMarking && CrashChecker.Verify(image, gptprio) == OsImages.V2), $"write #{n}: gptprio boots {gptprio}");

            disk.FailOnWrite = null;
            await SlotInstaller.InstallAsync(AbSlots.Open(disk), Imga, V2, null, CancellationToken.None);
            Assert.Equal(PartitionState.Updating, slots.State(Imgb));
            Assert.Equal(new[] { "outpost-imga.conf", "outpost-imgb+1.conf" }, EntryFiles(slots));
            var result = CrashChecker.Check(image.ToArray(), "retry", $"write error at #{n}");
            Assert.True(result.Ok, result.Detail);
        }
    }

    private static string VersionOf(string label) => label == Imgb ? OsImages.V2.Version : OsImages.V1.Version;

    private static List<string> EntryFiles(AbSlots slots) => slots.Entries().Select(e => e.Name.FileName).Order(StringComparer.Ordinal).ToList();

    private sealed class StepProgress(Action<SlotInstallStep> report) : IProgress<(SlotInstallStep Step, long Bytes)>
    {
        public void Report((SlotInstallStep Step, long Bytes) value) => report(value.Step);
    }
}
