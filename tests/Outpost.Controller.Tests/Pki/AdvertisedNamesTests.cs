using Outpost.Controller.Pki;

namespace Outpost.Controller.Tests.Pki;

public sealed class AdvertisedNamesTests
{
    [Fact]
    public void Names_and_addresses_are_trimmed_normalized_and_kept_in_order_without_duplicates()
    {
        var names = AdvertisedNames.Parse(" Controller.Example.NET ,10.0.2.2,[::1],controller.example.net");
        Assert.Equal(["controller.example.net", "10.0.2.2", "::1"], names);
    }

    [Theory]
    [InlineData("a.example,,b.example", "empty entry (number 2)")]
    [InlineData("a.example,", "empty entry (number 2)")]
    [InlineData(" ", "empty entry (number 1)")]
    [InlineData("bad_name.example", "neither a DNS name nor an IP address")]
    [InlineData("*.example.net", "neither a DNS name nor an IP address")]
    [InlineData("-lead.example", "neither a DNS name nor an IP address")]
    [InlineData("two words", "neither a DNS name nor an IP address")]
    [InlineData("10.0.2", "neither a DNS name nor an IPv4 address")]
    [InlineData("300.1.1.1", "neither a DNS name nor an IPv4 address")]
    [InlineData("controller.example.net:8443", "has a port")]
    [InlineData("fe80::1::2", "not a valid IPv6 address")]
    public void An_entry_no_device_could_use_is_refused_with_what_to_give(string list, string expected)
    {
        var error = Assert.Throws<InvalidAdvertisedNameException>(() => AdvertisedNames.Parse(list));
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void A_label_longer_than_63_characters_is_refused()
    {
        Assert.Throws<InvalidAdvertisedNameException>(() => AdvertisedNames.Parse(new string('a', 64) + ".example"));
        Assert.Equal(new string('a', 63) + ".example", Assert.Single(AdvertisedNames.Parse(new string('a', 63) + ".example")));
    }

    [Theory]
    [InlineData("controller.example.net", "controller.example.net:8443")]
    [InlineData("controller.example.net:9000", "controller.example.net:9000")]
    [InlineData("10.0.2.2", "10.0.2.2:8443")]
    [InlineData("::1", "[::1]:8443")]
    [InlineData("[::1]:9000", "[::1]:9000")]
    public void A_server_option_without_a_port_gets_the_controller_port(string option, string expected) =>
        Assert.Equal(expected, AdvertisedNames.ServerFor(option, "127.0.0.1:8443"));

    [Theory]
    [InlineData("controller.example.net:0")]
    [InlineData("controller.example.net:http")]
    [InlineData("bad_name:8443")]
    public void A_server_option_with_a_bad_host_or_port_is_refused(string option) =>
        Assert.Throws<InvalidAdvertisedNameException>(() => AdvertisedNames.ServerFor(option, "127.0.0.1:8443"));
}
