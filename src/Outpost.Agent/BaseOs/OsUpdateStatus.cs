using Org.Lfedge.Eve.Info;
using Outpost.Agent.Bus;

namespace Outpost.Agent.BaseOs;

/// <summary>What BaseOs knows of one slot, for its ZInfoDevSW entry (EVE's fields, §10.4).</summary>
public sealed record SlotReport(
    string Label,
    string Version,
    ZSwState Status,
    BaseOsStatus UserStatus,
    BaseOsSubStatus SubStatus = BaseOsSubStatus.NoneSubstatus,
    string SubStatusText = "",
    uint SubStatusProgress = 0,
    uint DownloadProgress = 0,
    string? Error = null);

/// <summary>The BaseOs subsystem's view of both slots and of the last update, published on every change.</summary>
public sealed record OsUpdateStatus(IReadOnlyList<SlotReport> Slots, string? LastOutcome) : IKeyed
{
    public const string SingletonKey = "baseos";

    public string Key => SingletonKey;

    public SlotReport? For(string label) => Slots.FirstOrDefault(s => s.Label == label);
}
