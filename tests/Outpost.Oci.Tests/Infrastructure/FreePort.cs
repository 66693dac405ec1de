using System.Net;
using System.Net.Sockets;

namespace Outpost.Oci.Tests.Infrastructure;

public static class FreePort
{
    /// <summary>A loopback port nobody listened on a moment ago.</summary>
    public static int Next()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
