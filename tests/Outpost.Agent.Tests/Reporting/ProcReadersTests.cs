using Outpost.Agent.Reporting;
using Outpost.Agent.Reporting.Proc;

namespace Outpost.Agent.Tests.Reporting;

public sealed class ProcReadersTests
{
    [Fact]
    public void Proc_stat_sample_gives_busy_cpu_seconds_without_idle_and_iowait_and_the_boot_time()
    {
        const string sample = """
            cpu  1000 200 300 50000 400 10 20 30 0 0
            cpu0 500 100 150 25000 200 5 10 15 0 0
            intr 12345
            btime 1700000000
            processes 42
            """;

        var stat = ProcStat.Parse(sample);

        Assert.Equal((1000 + 200 + 300 + 10 + 20 + 30) / 100.0, stat.BusyCpuSeconds);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1700000000), stat.BootTime);
    }

    [Fact]
    public void Proc_meminfo_sample_is_read_in_bytes()
    {
        var meminfo = ProcMeminfo.Parse("MemTotal:       16000000 kB\nMemFree:         1000000 kB\nMemAvailable:    8000000 kB\n");

        Assert.Equal(16000000UL * 1024, meminfo.TotalBytes);
        Assert.Equal(8000000UL * 1024, meminfo.AvailableBytes);
        Assert.Equal(8000000UL * 1024, meminfo.UsedBytes);
    }

    [Fact]
    public void Proc_net_dev_sample_gives_cumulative_counters_per_interface()
    {
        const string sample = """
            Inter-|   Receive                                                |  Transmit
             face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
                lo:  123456     789    0    0    0     0          0         0   123456     789    0    0    0     0       0          0
              eth0: 9876543   54321    1    2    0     0          0        10  1234567   4321    3    4    0     0       0          0
            """;

        var interfaces = ProcNetDev.Parse(sample);

        Assert.Equal(["lo", "eth0"], interfaces.Select(i => i.Name));
        Assert.Equal(new InterfaceCounters("eth0", 9876543, 54321, 1, 2, 1234567, 4321, 3, 4), interfaces[1]);
    }

    [Fact]
    public void Proc_uptime_sample_is_seconds()
    {
        Assert.Equal(TimeSpan.FromSeconds(12345.67), ProcUptime.Parse("12345.67 54321.00\n"));
    }

    [Fact]
    public void Mount_holding_a_path_is_the_longest_matching_mount_point()
    {
        var mounts = ProcMounts.Parse("/dev/sda1 / ext4 rw 0 0\n/dev/sda9 /persist ext4 rw 0 0\ntmpfs /persist2 tmpfs rw 0 0\n");

        Assert.Equal("/dev/sda9", ProcMounts.Containing(mounts, "/persist/outbox")!.Device);
        Assert.Equal("/dev/sda1", ProcMounts.Containing(mounts, "/persistent")!.Device);
    }

    [Fact]
    public void Real_proc_files_of_this_host_parse()
    {
        var stat = ProcStat.Read();
        var meminfo = ProcMeminfo.Read();
        var uptime = ProcUptime.Read();
        var interfaces = ProcNetDev.Read();

        Assert.True(stat.BusyCpuSeconds > 0);
        Assert.True(stat.BootTime < DateTimeOffset.UtcNow);
        Assert.True(meminfo.TotalBytes > 0 && meminfo.AvailableBytes <= meminfo.TotalBytes);
        Assert.True(uptime > TimeSpan.Zero);
        Assert.Contains(interfaces, i => i.Name == "lo");
        Assert.NotNull(ProcMounts.Containing(ProcMounts.Read(), Path.GetTempPath()));
        var usage = FileSystemUsage.Of(Path.GetTempPath());
        Assert.True(usage.TotalBytes > 0 && usage.FreeBytes <= usage.TotalBytes);
    }

    [Fact]
    public void Host_facts_name_the_boot_partition_only_on_an_outpost_image()
    {
        Assert.Equal("IMGB", HostFacts.BootPartition("console=ttyS0 root=PARTLABEL=IMGB ro"));
        Assert.Null(HostFacts.BootPartition("BOOT_IMAGE=/vmlinuz root=UUID=1234 ro"));
        Assert.Equal("Ubuntu 24.04 LTS", HostFacts.PrettyOsName("NAME=\"Ubuntu\"\nPRETTY_NAME=\"Ubuntu 24.04 LTS\"\n"));
    }
}
