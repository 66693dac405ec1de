using Outpost.Agent.Workloads.Runc;

namespace Outpost.Agent.Tests.Workloads;

public sealed class CgroupCapabilitiesTests
{
    private const string CpuV1 = "30 25 0:26 / /sys/fs/cgroup/cpu rw,relatime shared:9 - cgroup cgroup rw,cpu";
    private const string MemoryV1 = "33 25 0:29 / /sys/fs/cgroup/memory rw,relatime shared:12 - cgroup cgroup rw,memory";
    private const string UnifiedBeside = "40 25 0:35 / /sys/fs/cgroup/unified rw,relatime shared:18 - cgroup2 cgroup2 rw";
    private const string Ext4Root = "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw";

    [Fact]
    public void V1_controllers_with_an_empty_unified_tree_are_hybrid_and_memory_is_limitable()
    {
        var capabilities = CgroupCapabilities.Detect([Ext4Root, CpuV1, MemoryV1, UnifiedBeside]);

        Assert.Equal(CgroupLayout.Hybrid, capabilities.Layout);
        Assert.True(capabilities.CanLimitMemory);
    }

    [Fact]
    public void V1_without_a_memory_hierarchy_cannot_limit_memory()
    {
        var capabilities = CgroupCapabilities.Detect([Ext4Root, CpuV1]);

        Assert.Equal(CgroupLayout.Legacy, capabilities.Layout);
        Assert.False(capabilities.CanLimitMemory);
    }

    [Fact]
    public void No_cgroup_mounts_means_no_limits()
    {
        Assert.Equal(new CgroupCapabilities(CgroupLayout.None, false, false), CgroupCapabilities.Detect([Ext4Root]));
    }

    [Fact]
    public void Mount_point_with_an_escaped_space_does_not_confuse_the_parser()
    {
        var capabilities = CgroupCapabilities.Detect([@"50 22 0:40 / /mnt/with\040space rw - tmpfs tmpfs rw", MemoryV1]);

        Assert.True(capabilities.CanLimitMemory);
    }
}
