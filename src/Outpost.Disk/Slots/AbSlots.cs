using Outpost.Disk.Boot;
using Outpost.Disk.Fat;
using Outpost.Disk.Gpt;

namespace Outpost.Disk.Slots;

/// <summary>
/// The A/B slots of one Outpost disk and every change an update makes to them, each in the order that keeps the disk
/// bootable if power is cut between any two writes. Two views of "what boots next" live on the disk: the GPT
/// attributes (EVE's states; the truth) and the systemd-boot entries on the ESP (what the firmware acts on, derived from
/// the GPT). The invariant the orderings keep: an entry exists only for a slot whose GPT state is not unused, and a slot
/// is marked updating only after its rootfs and boot payload were written and read back. Everything goes through the
/// <see cref="Stream"/> given (the code's single write layer: a test records or fails its writes there).
/// </summary>
public sealed class AbSlots
{
    public static readonly IReadOnlyList<string> Labels = [EvePartitions.ImgaName, EvePartitions.ImgbName];

    private readonly Stream _disk;

    private AbSlots(Stream disk) => _disk = disk;

    /// <summary>Wraps a whole disk (image file or block device opened read-write for changes).</summary>
    public static AbSlots Open(Stream disk)
    {
        var slots = new AbSlots(disk);
        _ = slots.Partition(EvePartitions.ImgaName);
        _ = slots.Partition(EvePartitions.ImgbName);
        _ = slots.EspPartition();
        return slots;
    }

    public static string OtherOf(string label) => label == EvePartitions.ImgaName ? EvePartitions.ImgbName
        : label == EvePartitions.ImgbName ? EvePartitions.ImgaName
        : throw new SlotLayoutException($"'{label}' is not an A/B slot; only {EvePartitions.ImgaName} and {EvePartitions.ImgbName} are.");

    public GptLayout Gpt => GptDisk.Read(_disk);

    public GptPartition Partition(string label) => Gpt.FindByName(label) is { TypeGuid: var type } p && type == EvePartitions.UsrType ? p
        : throw new SlotLayoutException($"The disk has no {label} partition of the usr type; it is not an A/B Outpost disk.");

    public PartitionState State(string label) => Partition(label).State;

    /// <summary>The boot entries on the ESP, parsed (files that are not counted entry names are left out).</summary>
    public IReadOnlyList<LoaderEntry> Entries()
    {
        var esp = Esp();
        if (!esp.Exists(SystemdBootEntries.EntriesDirectory)) return [];
        return esp.ListFiles(SystemdBootEntries.EntriesDirectory)
            .Select(f => (File: f, Name: BootEntryName.Parse(f)))
            .Where(e => e.Name is not null)
            .Select(e => LoaderEntry.Parse(e.Name!, System.Text.Encoding.UTF8.GetString(esp.ReadFile($"{SystemdBootEntries.EntriesDirectory}/{e.File}"))))
            .ToList();
    }

    public IReadOnlyList<LoaderEntry> EntriesOf(string label) => Entries().Where(e => e.Name.Id == SystemdBootEntries.IdOf(label)).ToList();

    /// <summary>The kernel and initramfs a slot boots, or null when either is missing.</summary>
    public BootPayload? Payload(string label)
    {
        var esp = Esp();
        var kernel = SystemdBootEntries.KernelPath(label);
        var initrd = SystemdBootEntries.InitrdPath(label);
        return esp.Exists(kernel) && esp.Exists(initrd) ? new BootPayload(esp.ReadFile(kernel), esp.ReadFile(initrd)) : null;
    }

    /// <summary>
    /// Takes a slot out of the boot order: its entries go first, then its GPT state becomes unused, so at no point
    /// does an entry point at a slot the GPT calls unused. Before a slot is overwritten this is what makes a half
    /// written slot unbootable by both rules.
    /// </summary>
    public void ResetToUnused(string label)
    {
        DeleteEntries(label, keep: null);
        if (State(label) != PartitionState.Unused)
            SetStates(new Dictionary<string, PartitionState> { [label] = PartitionState.Unused });
    }

    /// <summary>Writes a slot's kernel and initramfs to the ESP. Only for an unused slot: nothing can boot them yet.</summary>
    public void InstallPayload(string label, BootPayload payload)
    {
        RequireUnused(label, "install a boot payload into");
        var esp = Esp();
        esp.WriteFile(SystemdBootEntries.KernelPath(label), payload.Kernel);
        esp.WriteFile(SystemdBootEntries.InitrdPath(label), payload.Initrd);
    }

    /// <summary>Streams a rootfs image into an unused slot, flushes and reads it back (see <see cref="PartitionWriter"/>).</summary>
    public Task<PartitionWriteResult> WriteRootfsAsync(string label, Stream content, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        RequireUnused(label, "write a rootfs into");
        return PartitionWriter.WriteAsync(_disk, Partition(label), content, progress, cancellationToken);
    }

    /// <summary>
    /// Gives a written slot its one try (EVE's updating, 0x13): the GPT first, then the counted entry
    /// <c>outpost-SLOT+1.conf</c>. A cut between the two leaves the GPT ahead of the ESP, which
    /// <see cref="ReconcileAfterBoot"/> repairs from the GPT on the next boot.
    /// </summary>
    public void MarkUpdating(string label, string osVersion, string cmdline)
    {
        if (Payload(label) is null)
            throw new SlotLayoutException($"{label} has no kernel and initramfs on the ESP; install the boot payload before marking it updating.");
        SetStates(new Dictionary<string, PartitionState> { [label] = PartitionState.Updating });
        SyncEntries(label, PartitionState.Updating, osVersion, cmdline);
    }

    /// <summary>
    /// Run once per boot, before anything else looks at the slots. It takes in what the boot loader did: the booted
    /// slot, if the GPT still says updating, spent its try (→ inprogress); another slot whose entry systemd-boot
    /// already counted down to 0 spent its try and did not come up (→ inprogress, which on the other slot is EVE's
    /// "that update failed"). Then it rewrites the entries from the GPT. Returns the booted slot's state afterwards.
    /// </summary>
    public PartitionState ReconcileAfterBoot(string booted, string cmdline, Func<string, string> versionOf)
    {
        var updates = new Dictionary<string, PartitionState>();
        foreach (var label in Labels)
        {
            var state = State(label);
            if (state != PartitionState.Updating) continue;
            if (label == booted || EntriesOf(label).Any(e => e.Name.IsBad))
                updates[label] = PartitionState.InProgress;
        }
        if (updates.Count > 0) SetStates(updates);
        foreach (var label in Labels)
            SyncEntries(label, State(label), versionOf(label), cmdline);
        return State(booted);
    }

    /// <summary>
    /// EVE's commit after a good test window: current inprogress → active, other → unused, counters cleared. The other
    /// slot's entries go first (the running slot's bad entry is then the only one, and boots), then one GPT rewrite
    /// changes both states together, then the running slot's entry loses its counter.
    /// </summary>
    public void Commit(string current, string osVersion, string cmdline)
    {
        var state = State(current);
        if (state != PartitionState.InProgress && state != PartitionState.Active)
            throw new SlotLayoutException($"{current} is {state.EveName ?? state.ToString()}, not inprogress: there is no update on probation to commit.");
        var other = OtherOf(current);
        DeleteEntries(other, keep: null);
        if (state != PartitionState.Active || State(other) != PartitionState.Unused)
            SetStates(new Dictionary<string, PartitionState> { [current] = PartitionState.Active, [other] = PartitionState.Unused });
        SyncEntries(current, PartitionState.Active, osVersion, cmdline);
    }

    /// <summary>
    /// Makes the entries of one slot express its state: the wanted entry is written first (if no existing name
    /// expresses the state already), then every other entry of the slot is deleted.
    /// </summary>
    private void SyncEntries(string label, PartitionState state, string osVersion, string cmdline)
    {
        var existing = EntriesOf(label);
        var keep = existing.FirstOrDefault(e => SystemdBootEntries.Expresses(e.Name, label, state))?.Name;
        if (keep is null && SystemdBootEntries.For(label, state, osVersion, cmdline) is { } entry)
        {
            Esp().WriteFile($"{SystemdBootEntries.EntriesDirectory}/{entry.FileName}", System.Text.Encoding.UTF8.GetBytes(entry.Content));
            keep = BootEntryName.Parse(entry.FileName);
        }
        DeleteEntries(label, keep);
    }

    private void DeleteEntries(string label, BootEntryName? keep)
    {
        var esp = Esp();
        foreach (var entry in EntriesOf(label).Where(e => e.Name != keep))
            esp.Delete($"{SystemdBootEntries.EntriesDirectory}/{entry.Name.FileName}");
    }

    private void SetStates(IReadOnlyDictionary<string, PartitionState> states)
    {
        var layout = Gpt;
        var attributes = states.ToDictionary(
            s => Partition(s.Key).Number,
            s => s.Value.Encode(layout.FindByName(s.Key)!.Attributes));
        GptDisk.UpdateAttributes(_disk, attributes);
    }

    private void RequireUnused(string label, string what)
    {
        var state = State(label);
        if (state != PartitionState.Unused)
            throw new SlotLayoutException($"Refusing to {what} {label}: it is {state.EveName ?? state.ToString()}, and only an unused slot may be changed. Reset it to unused first.");
    }

    private GptPartition EspPartition() => Gpt.Partitions.FirstOrDefault(p => p.TypeGuid == EvePartitions.EfiSystemType)
        ?? throw new SlotLayoutException("The disk has no EFI System Partition; it is not an Outpost disk.");

    private FatVolumeEditor Esp()
    {
        var esp = EspPartition();
        return FatVolumeEditor.Open(new PartitionStream(_disk, esp.ByteOffset, esp.ByteLength));
    }
}

/// <summary>A slot's kernel and initramfs as systemd-boot loads them from the ESP.</summary>
public sealed record BootPayload(byte[] Kernel, byte[] Initrd);
