using Outpost.Disk.Gpt;

namespace Outpost.Disk.Tests.Gpt;

public sealed class BootSelectionTests
{
    private static GptPartition Slot(int number, PartitionState state, ulong otherBits = 0, Guid? type = null) =>
        new(number, type ?? EvePartitions.UsrType, Guid.Empty, 2048 * number, 2048 * number + 2047, state.Encode(otherBits), $"S{number}");

    [Theory]
    [InlineData(0x102, 2, 0, true)]
    [InlineData(0x13, 3, 1, false)]
    [InlineData(0x3, 3, 0, false)]
    [InlineData(0x0, 0, 0, false)]
    public void EveStateValuesDecodeToTheirFields(int eveValue, int priority, int tries, bool successful)
    {
        var state = PartitionState.FromAttributes((ulong)eveValue << 48);
        Assert.Equal(new PartitionState(priority, tries, successful), state);
        Assert.Equal(eveValue, state.EveValue);
    }

    [Fact]
    public void NamedStatesMatchEveValues()
    {
        Assert.Equal(0x102, PartitionState.Active.EveValue);
        Assert.Equal(0x13, PartitionState.Updating.EveValue);
        Assert.Equal(0x3, PartitionState.InProgress.EveValue);
        Assert.Equal(0x0, PartitionState.Unused.EveValue);
    }

    [Fact]
    public void EncodingKeepsUnrelatedAttributeBits()
    {
        const ulong other = (1UL << 2) | (1UL << 60) | 1;
        ulong encoded = PartitionState.Updating.Encode(other | (0xFUL << 48));
        Assert.Equal(other | (0x13UL << 48), encoded);
    }

    [Fact]
    public void ActiveAloneBootsWithoutConsumingATry()
    {
        var choice = BootSelection.Choose([Slot(2, PartitionState.Active), Slot(3, PartitionState.Unused)])!;
        Assert.Equal(2, choice.Partition.Number);
        Assert.False(choice.ConsumedTry);
    }

    [Fact]
    public void UpdatingBeatsActiveAndConsumesItsTry()
    {
        var choice = BootSelection.Choose([Slot(2, PartitionState.Active), Slot(3, PartitionState.Updating, otherBits: 1UL << 60)])!;
        Assert.Equal(3, choice.Partition.Number);
        Assert.True(choice.ConsumedTry);
        Assert.Equal(PartitionState.InProgress, PartitionState.FromAttributes(choice.NewAttributes));
        Assert.Equal(1UL << 60, choice.NewAttributes & (1UL << 60));
    }

    [Fact]
    public void InProgressThatNeverSucceededFallsBackToActive()
    {
        var choice = BootSelection.Choose([Slot(2, PartitionState.Active), Slot(3, PartitionState.InProgress)])!;
        Assert.Equal(2, choice.Partition.Number);
    }

    [Fact]
    public void EqualPriorityKeepsTheLowerPartitionNumber()
    {
        var choice = BootSelection.Choose([Slot(3, PartitionState.Active), Slot(2, PartitionState.Active)])!;
        Assert.Equal(2, choice.Partition.Number);
    }

    [Fact]
    public void NonUsrPartitionsAreIgnored()
    {
        var choice = BootSelection.Choose([Slot(1, new PartitionState(15, 0, true), type: EvePartitions.EfiSystemType), Slot(3, PartitionState.Active)])!;
        Assert.Equal(3, choice.Partition.Number);
    }

    [Fact]
    public void NoCandidateReturnsNull()
    {
        Assert.Null(BootSelection.Choose([Slot(2, PartitionState.InProgress), Slot(3, PartitionState.Unused)]));
    }
}
