using Outpost.Device.Init;

namespace Outpost.Device.Tests;

/// <summary>Partition and port discovery against sysfs trees laid out as the kernel does (uevent, type, ifindex, device links).</summary>
public sealed class SysfsTests : IDisposable
{
    private readonly DirectoryInfo _sys = Directory.CreateTempSubdirectory("outpost-sysfs-");

    private void Block(string name, params string[] uevent)
    {
        var dir = Directory.CreateDirectory(Path.Combine(_sys.FullName, "class", "block", name)).FullName;
        File.WriteAllLines(Path.Combine(dir, "uevent"), uevent);
    }

    private void Net(string name, int type, int ifindex, bool physical)
    {
        var dir = Directory.CreateDirectory(Path.Combine(_sys.FullName, "class", "net", name)).FullName;
        File.WriteAllText(Path.Combine(dir, "type"), $"{type}\n");
        File.WriteAllText(Path.Combine(dir, "ifindex"), $"{ifindex}\n");
        if (physical) Directory.CreateDirectory(Path.Combine(dir, "device"));
    }

    [Fact]
    public void A_partition_is_found_by_its_gpt_name_and_named_by_its_devname()
    {
        Block("vda", "MAJOR=254", "DEVNAME=vda", "DEVTYPE=disk");
        Block("vda4", "DEVNAME=vda4", "DEVTYPE=partition", "PARTN=4", "PARTNAME=CONFIG");
        Block("vda9", "DEVNAME=vda9", "DEVTYPE=partition", "PARTN=9", "PARTNAME=P3");
        Assert.Equal("/dev/vda4", BlockDevices.FindPartition("CONFIG", _sys.FullName));
        Assert.Equal("/dev/vda9", BlockDevices.FindPartition("P3", _sys.FullName));
        Assert.Null(BlockDevices.FindPartition("IMGB", _sys.FullName));
    }

    [Fact]
    public void The_first_ethernet_port_is_the_physical_one_with_the_lowest_index()
    {
        Net("lo", 772, 1, physical: false);
        Net("eth1", 1, 3, physical: true);
        Net("eth0", 1, 2, physical: true);
        Net("veth0", 1, 4, physical: false);
        Net("wwan0", 519, 5, physical: true);
        Assert.Equal("eth0", BootNetwork.FirstEthernetPort(_sys.FullName));
    }

    [Fact]
    public void Without_a_physical_ethernet_port_there_is_none()
    {
        Net("lo", 772, 1, physical: false);
        Net("br0", 1, 2, physical: false);
        Assert.Null(BootNetwork.FirstEthernetPort(_sys.FullName));
    }

    public void Dispose() => _sys.Delete(recursive: true);
}
