using System.Text;
using CsCheck;
using Outpost.Device.Init;

namespace Outpost.Device.Tests;

public sealed class PortOverrideTests
{
    private static DevicePortConfig Parse(string json) => DevicePortConfig.Parse(Encoding.UTF8.GetBytes(json));

    [Fact]
    public void A_static_port_is_read_with_its_address_gateway_and_dns_in_eves_field_names()
    {
        var config = Parse("""{"Version":1,"Ports":[{"IfName":"eth0","IsMgmt":true,"Dhcp":1,"AddrSubnet":"192.168.1.10/24","Gateway":"192.168.1.1","DnsServers":["192.168.1.1","9.9.9.9"]}]}""");
        var port = Assert.Single(config.Ports);
        Assert.Equal(("eth0", PortDhcp.Static, "192.168.1.10/24", "192.168.1.1"), (port.IfName, port.Dhcp, port.AddrSubnet, port.Gateway));
        Assert.Equal(["192.168.1.1", "9.9.9.9"], port.DnsServers);
    }

    [Fact]
    public void A_dhcp_port_needs_no_address()
    {
        var port = Assert.Single(Parse("""{"Version":1,"Ports":[{"IfName":"eth1","Dhcp":4}]}""").Ports);
        Assert.Equal(PortDhcp.Client, port.Dhcp);
    }

    [Theory]
    [InlineData("{not json", "not valid JSON")]
    [InlineData("""{"Ports":[{"IfName":"eth0","Dhcp":1}]}""", "AddrSubnet '' is not ADDRESS/PREFIX")]
    [InlineData("""{"Ports":[{"IfName":"eth0","Dhcp":1,"AddrSubnet":"10.0.0.300/24"}]}""", "is not ADDRESS/PREFIX")]
    [InlineData("""{"Ports":[{"IfName":"eth0","Dhcp":1,"AddrSubnet":"10.0.0.3/24","Gateway":"router"}]}""", "Gateway 'router'")]
    [InlineData("""{"Ports":[{"IfName":"eth0","Dhcp":1,"AddrSubnet":"10.0.0.3/24","DnsServers":["dns.example"]}]}""", "DNS server 'dns.example'")]
    [InlineData("""{"Ports":[{"IfName":"../../etc","Dhcp":4}]}""", "is not an interface name")]
    [InlineData("""{"Ports":[{"IfName":"","Dhcp":4}]}""", "is not an interface name")]
    public void A_hostile_or_malformed_override_is_an_error_naming_what_to_fix(string json, string expected)
    {
        var error = Assert.Throws<FormatException>(() => Parse(json));
        Assert.Contains(expected, error.Message);
        Assert.Contains("DevicePortConfig/override.json", error.Message);
    }

    [Fact]
    public void Any_bytes_give_a_config_or_a_format_error_never_another_exception()
    {
        Gen.Byte.Array[0, 512].Sample(bytes =>
        {
            try
            {
                DevicePortConfig.Parse(bytes);
            }
            catch (FormatException)
            {
            }
        }, iter: 2000);
    }
}
