namespace Outpost.Disk.Gpt;

/// <summary>
/// One GPT partition entry. <see cref="Number"/> is 1-based and selects the slot in the entry
/// array (slot = Number - 1), which is how EVE keeps its partition numbers fixed.
/// </summary>
/// <param name="Number">Partition number, 1..128.</param>
/// <param name="TypeGuid">Partition type GUID (for example <see cref="EvePartitions.UsrType"/>).</param>
/// <param name="UniqueGuid">Unique partition GUID (PARTUUID).</param>
/// <param name="FirstLba">First 512-byte sector, inclusive.</param>
/// <param name="LastLba">Last 512-byte sector, inclusive.</param>
/// <param name="Attributes">64-bit attribute field; bits 48-63 are type-specific (see <see cref="PartitionState"/>).</param>
/// <param name="Name">Partition name, at most 36 UTF-16 code units.</param>
public sealed record GptPartition(
    int Number,
    Guid TypeGuid,
    Guid UniqueGuid,
    long FirstLba,
    long LastLba,
    ulong Attributes,
    string Name)
{
    /// <summary>Byte offset of the partition from the start of the disk.</summary>
    public long ByteOffset => FirstLba * GptLayout.SectorSize;

    /// <summary>Size of the partition in bytes.</summary>
    public long ByteLength => (LastLba - FirstLba + 1) * GptLayout.SectorSize;

    /// <summary>The A/B boot state stored in the attribute bits 48-56.</summary>
    public PartitionState State => PartitionState.FromAttributes(Attributes);
}
