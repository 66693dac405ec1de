using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Outpost.Device.Init;

/// <summary>EVE's DHCP types for a port (DHCPNoop 0, Static 1, DHCPNone 2, Client 4; 3 is deprecated).</summary>
internal enum PortDhcp
{
    Noop = 0,
    Static = 1,
    None = 2,
    Client = 4,
}

/// <summary>One port of EVE's legacy bootstrap file <c>DevicePortConfig/override.json</c> (the fields the boot network uses).</summary>
internal sealed record PortOverride
{
    public string IfName { get; init; } = "";
    public bool IsMgmt { get; init; } = true;
    public PortDhcp Dhcp { get; init; } = PortDhcp.Client;
    public string? AddrSubnet { get; init; }
    public string? Gateway { get; init; }
    public IReadOnlyList<string>? DnsServers { get; init; }
}

internal sealed record DevicePortConfig
{
    public int Version { get; init; }
    public IReadOnlyList<PortOverride> Ports { get; init; } = [];

    public const string RelativePath = "DevicePortConfig/override.json";

    /// <summary>Reads and checks the override; a file that is malformed or asks for something impossible is an error that names what to fix.</summary>
    public static DevicePortConfig Parse(ReadOnlySpan<byte> json)
    {
        DevicePortConfig config;
        try
        {
            config = JsonSerializer.Deserialize(json, PortConfigJson.Default.DevicePortConfig) ?? throw new JsonException("the document is null");
        }
        catch (JsonException e)
        {
            throw new FormatException($"{RelativePath} is not valid JSON for EVE's DevicePortConfig ({e.Message}).");
        }

        foreach (var port in config.Ports)
        {
            if (string.IsNullOrWhiteSpace(port.IfName) || port.IfName.Length > 15 || port.IfName.Contains('/'))
                throw new FormatException($"{RelativePath}: IfName '{port.IfName}' is not an interface name (1-15 characters, no '/').");
            if (port.Dhcp != PortDhcp.Static) continue;
            if (port.AddrSubnet is null || !IPNetwork.TryParse(port.AddrSubnet, out _) || !IPAddress.TryParse(port.AddrSubnet.Split('/')[0], out _))
                throw new FormatException($"{RelativePath}: port {port.IfName} is static (Dhcp 1) but AddrSubnet '{port.AddrSubnet}' is not ADDRESS/PREFIX, e.g. 192.168.1.10/24.");
            if (port.Gateway is { Length: > 0 } gateway && !IPAddress.TryParse(gateway, out _))
                throw new FormatException($"{RelativePath}: port {port.IfName} has Gateway '{gateway}', which is not an IP address.");
            foreach (var dns in port.DnsServers ?? [])
                if (!IPAddress.TryParse(dns, out _))
                    throw new FormatException($"{RelativePath}: port {port.IfName} has DNS server '{dns}', which is not an IP address.");
        }
        return config;
    }
}

[JsonSourceGenerationOptions(PropertyNameCaseInsensitive = true, NumberHandling = JsonNumberHandling.AllowReadingFromString)]
[JsonSerializable(typeof(DevicePortConfig))]
internal sealed partial class PortConfigJson : JsonSerializerContext;
