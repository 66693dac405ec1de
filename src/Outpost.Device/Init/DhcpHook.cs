using System.Net;

namespace Outpost.Device.Init;

/// <summary>
/// udhcpc's script, as a role of the device binary: udhcpc runs it with the event as its argument and the lease in
/// the environment (interface, ip, subnet, router, dns). It applies the lease with iproute2 and writes the DNS
/// servers to /run/resolvconf/resolv.conf (where /etc/resolv.conf points).
/// </summary>
internal static class DhcpHook
{
    public static async Task<int> RunAsync(string action, CancellationToken cancellationToken)
    {
        var env = Environment.GetEnvironmentVariables();
        string Get(string name) => env[name] as string ?? "";
        var iface = Get("interface");
        if (iface.Length == 0) return 1;
        switch (action)
        {
            case "deconfig":
                await Tools.RunAsync("ip", ["addr", "flush", "dev", iface], cancellationToken);
                await Tools.RunAsync("ip", ["link", "set", iface, "up"], cancellationToken);
                return 0;
            case "bound" or "renew":
                var prefix = PrefixLength(Get("subnet"));
                var address = await Tools.RunAsync("ip", ["addr", "replace", $"{Get("ip")}/{prefix}", "dev", iface], cancellationToken);
                if (!address.Succeeded) Console.Error.WriteLine($"cannot set {Get("ip")}/{prefix} on {iface}: {address.LastLine}");
                var router = Get("router").Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault();
                if (router is not null) await Tools.RunAsync("ip", ["route", "replace", "default", "via", router, "dev", iface], cancellationToken);
                var servers = Get("dns").Split(' ', StringSplitOptions.RemoveEmptyEntries);
                var temporary = BootNetwork.ResolvConf + ".tmp";
                File.WriteAllText(temporary, string.Concat(servers.Select(s => $"nameserver {s}\n")));
                File.Move(temporary, BootNetwork.ResolvConf, overwrite: true);
                Console.WriteLine($"{action}: {iface} {Get("ip")}/{prefix} via {router ?? "(no router)"}, DNS {string.Join(' ', servers)}");
                return 0;
            default:
                // leasefail, nak: udhcpc keeps trying by itself.
                return 0;
        }
    }

    private static int PrefixLength(string mask)
    {
        if (!IPAddress.TryParse(mask, out var parsed)) return 24;
        var bits = 0;
        foreach (var b in parsed.GetAddressBytes()) bits += System.Numerics.BitOperations.PopCount(b);
        return bits;
    }
}
