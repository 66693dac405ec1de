namespace Outpost.Device.Init;

/// <summary>
/// Networking until the controller manages the uplinks: loopback up, then DHCP on the first Ethernet port, unless
/// the CONFIG partition's <c>DevicePortConfig/override.json</c> names ports — static ports get their address, route
/// and DNS servers now, DHCP ports a client. The DHCP client is busybox's udhcpc, kept running by PID 1 (it renews
/// the lease), whose hook (<c>outpost-device dhcp-hook</c>) applies what the server hands out.
/// </summary>
internal static class BootNetwork
{
    // The image builder makes /etc/resolv.conf a link here, as linuxkit does.
    public const string ResolvConf = "/run/resolvconf/resolv.conf";
    public const string DhcpHook = "/usr/lib/outpost/dhcp-hook";

    /// <summary>Configures what can be configured now and returns the DHCP clients PID 1 must keep running.</summary>
    public static async Task<IReadOnlyList<ServiceDefinition>> StartAsync(string configDirectory, BootLog log, CancellationToken cancellationToken)
    {
        await Tools.RunAsync("ip", ["link", "set", "lo", "up"], cancellationToken);
        File.WriteAllText(ResolvConf, "");

        var overridePath = Path.Combine(configDirectory, DevicePortConfig.RelativePath);
        IReadOnlyList<PortOverride> ports;
        if (File.Exists(overridePath))
        {
            try
            {
                ports = [.. DevicePortConfig.Parse(File.ReadAllBytes(overridePath)).Ports.Where(p => p.IsMgmt)];
                log.Say($"network: using {DevicePortConfig.RelativePath} ({ports.Count} management ports)");
            }
            catch (FormatException e)
            {
                log.Say($"network: ignoring the override: {e.Message} Falling back to DHCP on the first Ethernet port.");
                ports = [];
            }
        }
        else
        {
            ports = [];
        }

        if (ports.Count == 0)
        {
            var first = FirstEthernetPort();
            if (first is null)
            {
                log.Say("network: no Ethernet port found; the device stays offline until one appears and it is rebooted");
                return [];
            }
            ports = [new PortOverride { IfName = first, Dhcp = PortDhcp.Client }];
            log.Say($"network: DHCP on {first}, the first Ethernet port");
        }

        var clients = new List<ServiceDefinition>();
        var dns = new List<string>();
        foreach (var port in ports)
        {
            await Tools.RunAsync("ip", ["link", "set", port.IfName, "up"], cancellationToken);
            switch (port.Dhcp)
            {
                case PortDhcp.Static:
                    var address = await Tools.RunAsync("ip", ["addr", "replace", port.AddrSubnet!, "dev", port.IfName], cancellationToken);
                    if (!address.Succeeded) log.Say($"network: {port.IfName}: cannot set {port.AddrSubnet}: {address.LastLine}");
                    if (port.Gateway is { Length: > 0 } gateway)
                    {
                        var route = await Tools.RunAsync("ip", ["route", "replace", "default", "via", gateway, "dev", port.IfName], cancellationToken);
                        if (!route.Succeeded) log.Say($"network: {port.IfName}: cannot route via {gateway}: {route.LastLine}");
                    }
                    dns.AddRange(port.DnsServers ?? []);
                    log.Say($"network: {port.IfName} static {port.AddrSubnet} via {port.Gateway ?? "(no gateway)"}");
                    break;
                case PortDhcp.Client:
                    clients.Add(new ServiceDefinition($"dhcp-{port.IfName}", "busybox",
                        ["udhcpc", "-f", "-i", port.IfName, "-s", DhcpHook, "-x", "hostname:" + Environment.MachineName]));
                    break;
                default:
                    log.Say($"network: {port.IfName} left unconfigured (Dhcp {(int)port.Dhcp})");
                    break;
            }
        }
        if (dns.Count > 0) File.WriteAllText(ResolvConf, string.Concat(dns.Select(d => $"nameserver {d}\n")));
        return clients;
    }

    /// <summary>The first physical Ethernet interface by kernel index (what EVE calls eth0 on a one-port box).</summary>
    public static string? FirstEthernetPort(string sysRoot = "/sys")
    {
        var net = Path.Combine(sysRoot, "class", "net");
        if (!Directory.Exists(net)) return null;
        return Directory.EnumerateDirectories(net)
            .Where(d => Directory.Exists(Path.Combine(d, "device")) && ReadInt(Path.Combine(d, "type")) == 1)
            .OrderBy(d => ReadInt(Path.Combine(d, "ifindex")) ?? int.MaxValue)
            .Select(Path.GetFileName)
            .FirstOrDefault();
    }

    private static int? ReadInt(string path)
    {
        try
        {
            return int.TryParse(File.ReadAllText(path).Trim(), out var value) ? value : null;
        }
        catch (IOException)
        {
            return null;
        }
    }
}
