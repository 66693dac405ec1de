using Outpost.Disk.Boot;
using Outpost.Disk.Fat;
using Outpost.Disk.Gpt;
using Outpost.Disk.Slots;

namespace Outpost.PowerCut;

/// <summary>The verdict on one disk state a cut left behind.</summary>
/// <param name="Phase">The scenario phase the cut landed in.</param>
/// <param name="Unbootable">gptprio's rule or systemd-boot's rule picks a slot whose rootfs and boot payload are not one complete image (or picks nothing).</param>
/// <param name="WrongCommit">A slot the GPT calls active, updating or inprogress does not hold one complete image (rootfs and kernel/initramfs of the same version).</param>
/// <param name="NotConverged">The agent, started on this state and rebooted as it asks, does not end with v2 committed as the single active slot at a fixed point.</param>
/// <param name="Error">The code under test or the checker threw.</param>
/// <param name="Detail">What was wrong, and the state (null when nothing was).</param>
public sealed record CutResult(string Phase, bool Unbootable, bool WrongCommit, bool NotConverged, bool Error, string? Detail, string Origin = "")
{
    public bool Ok => !Unbootable && !WrongCommit && !NotConverged && !Error;
}

/// <summary>
/// Judges a disk image state the way the machine would meet it after a power cut:
/// (a) GRUB gptprio's choice (<see cref="BootSelection"/>) must be a slot whose rootfs and ESP payload are one version;
/// (b) systemd-boot's choice (<see cref="SystemdBootSelection"/>) must name such a slot with <c>root=PARTLABEL=</c>,
/// and its linux/initrd files must be there and be that version's;
/// no slot in a state other than unused may hold anything but a complete image;
/// (c) the agent, started on that state, converges: booted by systemd-boot (with its rename), it reconciles, commits
/// an update on probation, reboots into a pending update, reinstalls v2 when it runs v1 with nothing pending; it must
/// end with exactly one active slot holding v2, exactly that slot's uncounted entry, and a reconcile that changes nothing.
/// </summary>
public static class CrashChecker
{
    private const int MaxBoots = 6;

    /// <summary>Checks the state in <paramref name="disk"/>, which the convergence run changes: pass a copy you own.</summary>
    public static CutResult Check(byte[] disk, string phase, string origin = "")
    {
        bool unbootable = false, wrongCommit = false, notConverged = false, error = false;
        var problems = new List<string>();
        var before = Describe(disk);
        try
        {
            var view = new DiskView(disk);
            foreach (var problem in view.BootProblems())
            {
                unbootable = true;
                problems.Add(problem);
            }
            foreach (var problem in view.StateProblems())
            {
                wrongCommit = true;
                problems.Add(problem);
            }
            try
            {
                foreach (var problem in Converge(view, ref wrongCommit))
                {
                    notConverged = true;
                    problems.Add(problem);
                }
            }
            catch (Exception e)
            {
                error = notConverged = true;
                problems.Add($"converging threw {e.GetType().Name}: {e.Message}");
            }
        }
        catch (Exception e)
        {
            error = true;
            problems.Add($"checking threw {e.GetType().Name}: {e.Message}");
        }
        var detail = problems.Count == 0 ? null : $"{string.Join("; ", problems)} | state after the cut: {before}";
        return new CutResult(phase, unbootable, wrongCommit, notConverged, error, detail, origin);
    }

    /// <summary>The agent's loop over reboots, as <c>BaseOsService</c> acts with v2 desired and a good test window.</summary>
    private static IEnumerable<string> Converge(DiskView view, ref bool wrongCommit)
    {
        var problems = new List<string>();
        string? finalSlot = null;
        for (int boot = 1; boot <= MaxBoots && finalSlot is null; boot++)
        {
            var booted = Firmware.Boot(view.Stream);
            if (booted is null) return [$"boot {boot}: systemd-boot finds no entry"];
            if (booted.RootLabel is not ("IMGA" or "IMGB") || view.Verify(booted.RootLabel) is not { } running)
                return [$"boot {boot}: systemd-boot boots {booted.Choice.Entry.Name.FileName} (root={booted.RootLabel}), which does not verify"];

            var label = booted.RootLabel;
            var other = AbSlots.OtherOf(label);
            var slots = AbSlots.Open(view.Stream);
            var state = slots.ReconcileAfterBoot(label, OsImages.Cmdline, view.VersionOf);
            if (state == PartitionState.InProgress)
            {
                slots.Commit(label, running.Version, OsImages.Cmdline);
                finalSlot = label;
            }
            else if (state == PartitionState.Active && running == OsImages.V2)
            {
                if (slots.State(other) == PartitionState.Updating)
                    slots.ResetToUnused(other);
                finalSlot = label;
            }
            else if (state == PartitionState.Active)
            {
                var pending = slots.State(other) == PartitionState.Updating && view.Verify(other) == OsImages.V2;
                if (!pending)
                    SlotInstaller.InstallAsync(slots, label, OsImages.V2.ToSlotImage(OsImages.Cmdline), null, CancellationToken.None).GetAwaiter().GetResult();
                // Then the agent asks for a reboot into the update.
            }
            else
            {
                return [$"boot {boot}: {label} is {state} after ReconcileAfterBoot, neither active nor inprogress"];
            }

            foreach (var problem in view.StateProblems())
            {
                wrongCommit = true;
                problems.Add($"after boot {boot}: {problem}");
            }
        }
        if (finalSlot is null) return [.. problems, $"no commit after {MaxBoots} boots: {Describe(view.Bytes)}"];
        problems.AddRange(view.FinalProblems(finalSlot));
        return problems;
    }

    /// <summary>The version <paramref name="label"/> holds completely on <paramref name="disk"/> (rootfs and kernel/initramfs), or null.</summary>
    public static OsImage? Verify(byte[] disk, string label) => new DiskView(disk).Verify(label);

    /// <summary>Problems with what gptprio and systemd-boot would boot on <paramref name="disk"/> (empty: both boot a slot that verifies).</summary>
    public static IReadOnlyList<string> BootProblems(byte[] disk) => new DiskView(disk).BootProblems().ToList();

    /// <summary>A one-line picture of a disk: each slot's state and content, and the entry files.</summary>
    public static string Describe(byte[] disk)
    {
        try
        {
            var view = new DiskView(disk);
            var gpt = GptDisk.Read(view.Stream);
            var slots = string.Join(" ", AbSlots.Labels.Select(l => gpt.FindByName(l) is { } p
                ? $"{l}={p.State.EveName ?? p.State.ToString()}(rootfs {view.RootfsOf(p)?.Version ?? "none"}, payload {view.PayloadVersion(l)})"
                : $"{l}=missing"));
            string entries;
            try
            {
                entries = string.Join(", ", Firmware.OpenEsp(view.Stream) is var esp && esp.Exists(SystemdBootEntries.EntriesDirectory)
                    ? esp.ListFiles(SystemdBootEntries.EntriesDirectory) : []);
            }
            catch (Exception e)
            {
                entries = $"unreadable ({e.GetType().Name}: {e.Message})";
            }
            return $"{slots} entries=[{entries}]";
        }
        catch (Exception e)
        {
            return $"undescribable ({e.GetType().Name}: {e.Message})";
        }
    }

    /// <summary>A disk image in memory, with the questions the checker asks of it.</summary>
    private sealed class DiskView(byte[] bytes)
    {
        public byte[] Bytes => bytes;

        public MemoryStream Stream { get; } = new(bytes, writable: true);

        public OsImage? RootfsOf(GptPartition partition) =>
            OsImages.All.FirstOrDefault(i => i.RootfsMatches(bytes.AsSpan((int)partition.ByteOffset, (int)partition.ByteLength)));

        public string PayloadVersion(string label)
        {
            try
            {
                var payload = AbSlots.Open(Stream).Payload(label);
                return payload is null ? "none" : OsImages.All.FirstOrDefault(i => i.PayloadMatches(payload))?.Version ?? "other";
            }
            catch (Exception e)
            {
                return $"unreadable ({e.GetType().Name})";
            }
        }

        /// <summary>The version a slot holds completely (rootfs and kernel/initramfs), or null.</summary>
        public OsImage? Verify(string label) => Why(label) is null ? RootfsOf(GptDisk.Read(Stream).FindByName(label)!) : null;

        public string VersionOf(string label) => Verify(label)?.Version ?? "";

        /// <summary>Why a slot does not verify, or null when it does.</summary>
        public string? Why(string label)
        {
            var partition = GptDisk.Read(Stream).FindByName(label);
            if (partition is null) return $"there is no {label} partition";
            var rootfs = RootfsOf(partition);
            if (rootfs is null) return $"the rootfs of {label} is not a complete image";
            BootPayload? payload;
            try
            {
                payload = AbSlots.Open(Stream).Payload(label);
            }
            catch (Exception e) when (e is FatLayoutException or IOException or SlotLayoutException or InvalidDataException)
            {
                return $"the ESP cannot be read for {label}'s payload ({e.Message})";
            }
            if (!rootfs.PayloadMatches(payload))
                return $"{label} holds rootfs {rootfs.Version} but its kernel/initramfs are {(payload is null ? "missing" : OsImages.All.FirstOrDefault(i => i.PayloadMatches(payload))?.Version ?? "another version's or torn")}";
            return null;
        }

        /// <summary>(a) and (b): what each boot rule picks, and why that does not boot.</summary>
        public IEnumerable<string> BootProblems()
        {
            GptLayout gpt;
            try
            {
                gpt = GptDisk.Read(Stream);
            }
            catch (GptFormatException e)
            {
                return [$"no valid GPT: {e.Message}"];
            }
            var problems = new List<string>();
            if (BootSelection.Choose(gpt.Partitions) is not { } gptprio)
                problems.Add("gptprio finds no bootable partition");
            else if (Why(gptprio.Partition.Name) is { } why)
                problems.Add($"gptprio picks {gptprio.Partition.Name}, but {why}");

            IReadOnlyList<LoaderEntry> entries;
            FatVolumeEditor esp;
            try
            {
                entries = AbSlots.Open(Stream).Entries();
                esp = Firmware.OpenEsp(Stream);
            }
            catch (Exception e)
            {
                problems.Add($"systemd-boot cannot read the ESP's entries ({e.GetType().Name}: {e.Message})");
                return problems;
            }
            if (SystemdBootSelection.Choose(entries) is not { } choice)
            {
                problems.Add("systemd-boot finds no entry");
                return problems;
            }
            var entry = choice.Entry;
            var label = entry.RootPartLabel;
            if (label is not ("IMGA" or "IMGB"))
            {
                problems.Add($"systemd-boot picks {entry.Name.FileName}, whose root=PARTLABEL= is '{label}'");
                return problems;
            }
            if (Why(label) is { } slotWhy)
            {
                problems.Add($"systemd-boot picks {entry.Name.FileName} (root {label}), but {slotWhy}");
                return problems;
            }
            var image = Verify(label)!;
            if (!esp.Exists(entry.Linux) || !esp.ReadFile(entry.Linux).AsSpan().SequenceEqual(image.Kernel))
                problems.Add($"systemd-boot picks {entry.Name.FileName}, whose linux /{entry.Linux} is missing or not {image.Version}'s kernel");
            if (!esp.Exists(entry.Initrd) || !esp.ReadFile(entry.Initrd).AsSpan().SequenceEqual(image.Initrd))
                problems.Add($"systemd-boot picks {entry.Name.FileName}, whose initrd /{entry.Initrd} is missing or not {image.Version}'s initramfs");
            return problems;
        }

        /// <summary>Wrong commits: a slot in a state other than unused that does not hold one complete image.</summary>
        public IEnumerable<string> StateProblems()
        {
            GptLayout gpt;
            try
            {
                gpt = GptDisk.Read(Stream);
            }
            catch (GptFormatException)
            {
                return [];
            }
            var problems = new List<string>();
            foreach (var label in AbSlots.Labels)
            {
                var state = gpt.FindByName(label)!.State;
                if (state != PartitionState.Unused && Why(label) is { } why)
                    problems.Add($"{label} is {state.EveName ?? state.ToString()} but {why}");
            }
            return problems;
        }

        /// <summary>The end state after convergence: one active slot with v2 and its plain entry, and nothing left to do.</summary>
        public IEnumerable<string> FinalProblems(string active)
        {
            var problems = new List<string>();
            var gpt = GptDisk.Read(Stream);
            var other = AbSlots.OtherOf(active);
            if (gpt.FindByName(active)!.State != PartitionState.Active) problems.Add($"end: {active} is {gpt.FindByName(active)!.State}, not active");
            if (gpt.FindByName(other)!.State != PartitionState.Unused) problems.Add($"end: {other} is {gpt.FindByName(other)!.State}, not unused");
            if (Verify(active) != OsImages.V2) problems.Add($"end: {active} does not hold v2 ({Why(active) ?? "it holds v1"})");
            var entries = AbSlots.Open(Stream).Entries();
            var wanted = new BootEntryName(SystemdBootEntries.IdOf(active), null, null);
            if (entries.Count != 1 || entries[0].Name != wanted)
                problems.Add($"end: the entries are [{string.Join(", ", entries.Select(e => e.Name.FileName))}], not just {wanted.FileName}");
            if (BootSelection.Choose(gpt.Partitions)?.Partition.Name != active) problems.Add($"end: gptprio would not boot {active}");
            if (SystemdBootSelection.Choose(entries) is not { Renames: false } choice || choice.Entry.RootPartLabel != active)
                problems.Add($"end: systemd-boot would not boot {active} without a rename");

            using var recorder = new RecordingStream(new MemoryStream(bytes, writable: true), keepData: false);
            var state = AbSlots.Open(recorder).ReconcileAfterBoot(active, OsImages.Cmdline, VersionOf);
            if (recorder.Writes > 0 || state != PartitionState.Active)
                problems.Add($"end: ReconcileAfterBoot({active}) is not a fixed point: it wrote {recorder.Writes} times and left {active} {state}");
            return problems;
        }
    }
}
