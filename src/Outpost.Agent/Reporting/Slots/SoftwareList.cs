using Org.Lfedge.Eve.Info;

namespace Outpost.Agent.Reporting.Slots;

/// <summary>
/// ZInfoDevice.swList as EVE's zedagent fills it for partitions no BaseOs config names (reportinfo.go): one entry
/// per A/B slot, the booted one first; status INSTALLED when the slot's version is known, else INITIAL; userStatus
/// and subStatus from the slot's state and whether it is the booted one (<see cref="ApplyUserStatus"/>).
/// </summary>
public static class SoftwareList
{
    /// <param name="slots">The disk's slots, or null on a host that did not boot from an Outpost disk.</param>
    /// <param name="update">What the BaseOs subsystem knows of each slot (versions, download, probation, errors); it wins where it speaks.</param>
    public static IReadOnlyList<ZInfoDevSW> For(HostFacts host, string agentVersion, OsSlots? slots, BaseOs.OsUpdateStatus? update = null)
    {
        var version = host.RunningVersion(agentVersion);
        var longVersion = $"outpost-agent {agentVersion} on {host.OperatingSystem}, Linux kernel {host.KernelRelease}";
        if (slots is null && update is { Slots.Count: > 0 })
        {
            // BaseOs was given its disk and boot slot (BaseOsOptions) on a host whose facts name none: its slots are the device's.
            slots = new OsSlots(update.Slots.Select((s, i) => new OsSlot(s.Label, null, null, Booted: i == 0)).ToList(), null);
        }

        if (slots is null)
        {
            // A development host or container: no IMGA/IMGB to name, one entry for what runs.
            return [new ZInfoDevSW
            {
                Activated = true,
                Status = ZSwState.Installed,
                ShortVersion = version,
                LongVersion = longVersion,
                UserStatus = BaseOsStatus.Updated,
            }];
        }

        return slots.Slots.Select(slot =>
        {
            var entry = new ZInfoDevSW
            {
                Activated = slot.Booted,
                PartitionLabel = slot.Label,
                PartitionDevice = slot.Device ?? "",
                PartitionState = slot.State ?? "",
                // The other slot's version would need its squashfs opened (EVE mounts it); unknown until then.
                ShortVersion = slot.Booted ? version : "",
                LongVersion = slot.Booted ? longVersion : "",
            };
            if (update?.For(slot.Label) is { } report)
            {
                entry.ShortVersion = report.Version.Length > 0 ? report.Version : entry.ShortVersion;
                entry.Status = report.Status;
                entry.UserStatus = report.UserStatus;
                entry.SubStatus = report.SubStatus;
                entry.SubStatusStr = report.SubStatusText;
                entry.SubStatusProgress = report.SubStatusProgress;
                entry.DownloadProgress = report.DownloadProgress;
                if (report.Error is { } error)
                {
                    entry.SwErr = new ErrorInfo { Description = error };
                }

                return entry;
            }

            entry.Status = entry.ShortVersion.Length > 0 ? ZSwState.Installed : ZSwState.Initial;
            ApplyUserStatus(entry);
            return entry;
        }).ToList();
    }

    /// <summary>
    /// EVE's addUserSwInfo for the two statuses a slot without a BaseOs config can have. The download states
    /// belong to a base-OS update in progress, which reports its own entry.
    /// </summary>
    public static void ApplyUserStatus(ZInfoDevSW entry)
    {
        (entry.UserStatus, entry.SubStatus) = (entry.Status, entry.PartitionState) switch
        {
            (ZSwState.Installed, "active") => (entry.Activated ? BaseOsStatus.Updated : BaseOsStatus.Fallback, BaseOsSubStatus.NoneSubstatus),
            (ZSwState.Installed, "updating") => (BaseOsStatus.Updating, BaseOsSubStatus.UpdateRebooting),
            (ZSwState.Installed, "inprogress") => entry.Activated
                ? (BaseOsStatus.Updating, BaseOsSubStatus.UpdateTesting)
                : (BaseOsStatus.Failed, BaseOsSubStatus.NoneSubstatus),
            // An unused slot with a label, or one whose version is unknown, is nothing to the user.
            (ZSwState.Initial, _) when entry.PartitionState == "unused" || entry.ShortVersion.Length == 0 => (BaseOsStatus.None, BaseOsSubStatus.NoneSubstatus),
            (ZSwState.Initial, _) => (BaseOsStatus.Updating, BaseOsSubStatus.UpdateInitializing),
            _ => (BaseOsStatus.None, BaseOsSubStatus.NoneSubstatus),
        };
    }
}
