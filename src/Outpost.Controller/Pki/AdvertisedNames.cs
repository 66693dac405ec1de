using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Outpost.Controller.Pki;

/// <summary>
/// The DNS names and IP addresses devices use to reach the controller (<c>outpost controller --advertise</c>), which
/// its TLS certificate must cover. The first one is what a new device's <c>server</c> file names by default. Saved in
/// the PKI folder, so a later start can tell whether they changed (a change re-issues the TLS certificate from the
/// same root) and a start without <c>--advertise</c> keeps them.
/// </summary>
public static class AdvertisedNames
{
    public const string FileName = "advertised-names";

    private const string Example = "controller.example.net,10.0.2.2";

    /// <summary>Splits and checks a comma-separated list; each entry comes back normalized (lower case, canonical IP).</summary>
    /// <exception cref="InvalidAdvertisedNameException">An entry is empty or neither a DNS name nor an IP address.</exception>
    public static IReadOnlyList<string> Parse(string commaSeparated)
    {
        var entries = commaSeparated.Split(',');
        var names = new List<string>();
        for (var i = 0; i < entries.Length; i++)
        {
            var entry = entries[i].Trim();
            if (entry.Length == 0)
            {
                throw new InvalidAdvertisedNameException(
                    $"--advertise '{commaSeparated}' has an empty entry (number {i + 1}). Give names and addresses separated by single commas, e.g. {Example}.");
            }

            var name = Normalize(entry);
            if (!names.Contains(name, StringComparer.Ordinal))
            {
                names.Add(name);
            }
        }

        return names;
    }

    /// <summary>One DNS name or IP address, normalized.</summary>
    /// <exception cref="InvalidAdvertisedNameException">It is neither.</exception>
    public static string Normalize(string entry)
    {
        var text = entry.Trim();
        if (text.StartsWith('[') && text.EndsWith(']'))
        {
            text = text[1..^1];
        }

        if (text.Contains(':'))
        {
            if (IPAddress.TryParse(text, out var v6) && v6.AddressFamily == AddressFamily.InterNetworkV6)
            {
                return v6.ToString();
            }

            throw new InvalidAdvertisedNameException(text.Count(c => c == ':') == 1
                ? $"'{entry}' has a port; advertise names and addresses without one (devices use the controller's port), e.g. {Example}."
                : $"'{entry}' is not a valid IPv6 address.");
        }

        // All digits and dots: an IPv4 address, and only in its full dotted-quad form ("10.2" is not 10.0.0.2 here).
        if (text.All(c => char.IsAsciiDigit(c) || c == '.'))
        {
            if (text.Split('.').Length == 4 && IPAddress.TryParse(text, out var v4))
            {
                return v4.ToString();
            }

            throw new InvalidAdvertisedNameException($"'{entry}' is neither a DNS name nor an IPv4 address (give all four parts, e.g. 10.0.2.2).");
        }

        if (!IsDnsName(text))
        {
            throw new InvalidAdvertisedNameException(
                $"'{entry}' is neither a DNS name nor an IP address. A DNS name is labels of letters, digits and '-' separated by dots (no '_', '*' or spaces), at most 253 characters, e.g. controller.example.net.");
        }

        return text.ToLowerInvariant();
    }

    /// <summary>A device's <c>server</c> file text (EVE's HOST:PORT) for an advertised name.</summary>
    public static string ServerAddress(string name, int port) =>
        IPAddress.TryParse(name, out var ip) && ip.AddressFamily == AddressFamily.InterNetworkV6
            ? $"[{name}]:{port.ToString(CultureInfo.InvariantCulture)}"
            : $"{name}:{port.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>
    /// HOST or HOST:PORT (IPv6 in brackets when a port follows) as a device's <c>server</c> file text; without a port
    /// the controller's own.
    /// </summary>
    /// <exception cref="InvalidAdvertisedNameException">The host is not a DNS name or IP address, or the port is not 1-65535.</exception>
    public static string ServerFor(string hostOrHostAndPort, string controllerServer)
    {
        var text = hostOrHostAndPort.Trim();
        string host;
        string? port = null;
        if (text.StartsWith('[') && text.IndexOf(']') is var close and > 0)
        {
            host = text[1..close];
            port = text.Length > close + 1 && text[close + 1] == ':' ? text[(close + 2)..] : null;
        }
        else if (text.Count(c => c == ':') == 1)
        {
            host = text[..text.IndexOf(':')];
            port = text[(text.IndexOf(':') + 1)..];
        }
        else
        {
            host = text;
        }

        if (port is not null && !(int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number is > 0 and < 65536))
        {
            throw new InvalidAdvertisedNameException($"'{hostOrHostAndPort}' does not end in a port from 1 to 65535; give HOST or HOST:PORT.");
        }

        var name = Normalize(host);
        return ServerAddress(name, port is null ? PortOf(controllerServer) : int.Parse(port, CultureInfo.InvariantCulture));
    }

    public static IReadOnlyList<string> Load(string pkiDirectory)
    {
        var path = Path.Combine(pkiDirectory, FileName);
        return File.Exists(path)
            ? File.ReadAllLines(path).Select(line => line.Trim()).Where(line => line.Length > 0).ToList()
            : [];
    }

    public static void Save(string pkiDirectory, IReadOnlyList<string> names) =>
        AtomicFile.WriteAllText(Path.Combine(pkiDirectory, FileName), string.Concat(names.Select(name => name + "\n")),
            UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

    private static int PortOf(string server) => int.Parse(server[(server.LastIndexOf(':') + 1)..], CultureInfo.InvariantCulture);

    private static bool IsDnsName(string text)
    {
        if (text.Length > 253)
        {
            return false;
        }

        var labels = text.Split('.');
        // An all-numeric last label would make "1.2.3" look like a name; RFC 3696 rules such top-level labels out.
        return labels.All(IsLabel) && !labels[^1].All(char.IsAsciiDigit);
    }

    private static bool IsLabel(string label) =>
        label.Length is > 0 and <= 63
        && label[0] != '-' && label[^1] != '-'
        && label.All(c => char.IsAsciiLetterOrDigit(c) || c == '-');
}

/// <summary>An <c>--advertise</c> entry (or a <c>--server</c> host) that no device could use; the message says what to give.</summary>
public sealed class InvalidAdvertisedNameException(string message) : Exception(message);
