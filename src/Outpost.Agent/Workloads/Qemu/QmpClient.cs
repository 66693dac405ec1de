using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Outpost.Agent.Workloads.Qemu;

/// <summary>
/// QEMU's machine protocol (QMP) on its unix socket: read the greeting, leave capability negotiation with
/// <c>qmp_capabilities</c>, then one command at a time, each answered by a <c>return</c> or an <c>error</c> line
/// (asynchronous <c>event</c> lines in between are skipped). JSON is read and written by hand so the agent stays
/// trimmable.
/// </summary>
public sealed class QmpClient : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly StreamReader _reader;

    private QmpClient(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: false);
        _reader = new StreamReader(_stream, new UTF8Encoding(false));
    }

    /// <exception cref="QmpException">Nothing listens on the socket, or it does not speak QMP.</exception>
    public static async Task<QmpClient> ConnectAsync(string socketPath, CancellationToken cancellationToken)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellationToken);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new QmpException($"Cannot connect to QMP at {socketPath} ({e.SocketErrorCode}); is the VM running?");
        }

        var client = new QmpClient(socket);
        try
        {
            using var greeting = await client.ReadMessageAsync(cancellationToken);
            if (!greeting.RootElement.TryGetProperty("QMP", out _))
            {
                throw new QmpException($"{socketPath} does not greet with QMP; is it a QEMU monitor socket in control mode?");
            }

            await client.ExecuteAsync("qmp_capabilities", cancellationToken);
            return client;
        }
        catch
        {
            await client.DisposeAsync();
            throw;
        }
    }

    /// <summary>Runs a command without arguments and returns its <c>return</c> value.</summary>
    /// <exception cref="QmpException">QEMU answered with an error, or closed the connection.</exception>
    public async Task<JsonElement> ExecuteAsync(string command, CancellationToken cancellationToken)
    {
        var request = new MemoryStream();
        await using (var writer = new Utf8JsonWriter(request))
        {
            writer.WriteStartObject();
            writer.WriteString("execute", command);
            writer.WriteEndObject();
        }

        request.WriteByte((byte)'\n');
        await _stream.WriteAsync(request.ToArray(), cancellationToken);
        while (true)
        {
            using var reply = await ReadMessageAsync(cancellationToken);
            var root = reply.RootElement;
            if (root.TryGetProperty("return", out var value))
            {
                return value.Clone();
            }

            if (root.TryGetProperty("error", out var error))
            {
                var kind = error.TryGetProperty("class", out var c) ? c.GetString() : "?";
                var description = error.TryGetProperty("desc", out var d) ? d.GetString() : "";
                throw new QmpException($"QEMU refused '{command}': {kind}: {description}");
            }
        }
    }

    /// <summary>Asks QEMU to exit at once (the guest gets no shutdown); returns when QEMU has acknowledged or hung up.</summary>
    public async Task QuitAsync(CancellationToken cancellationToken)
    {
        try
        {
            await ExecuteAsync("quit", cancellationToken);
        }
        catch (QmpException e) when (e.ConnectionClosed)
        {
            // QEMU may close the socket before its reply makes it out; either way it is on its way out.
        }
    }

    private async Task<JsonDocument> ReadMessageAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            string? line;
            try
            {
                line = await _reader.ReadLineAsync(cancellationToken);
            }
            catch (IOException e)
            {
                throw new QmpException($"QEMU closed the QMP connection: {e.Message}", connectionClosed: true);
            }

            if (line is null)
            {
                throw new QmpException("QEMU closed the QMP connection.", connectionClosed: true);
            }

            if (line.Length == 0)
            {
                continue;
            }

            var document = JsonDocument.Parse(line);
            if (document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("event", out _))
            {
                document.Dispose();
                continue;
            }

            return document;
        }
    }

    public async ValueTask DisposeAsync()
    {
        _reader.Dispose();
        await _stream.DisposeAsync();
        _socket.Dispose();
    }
}

/// <summary>A QMP conversation failed; the message says whether QEMU refused or went away.</summary>
public sealed class QmpException(string message, bool connectionClosed = false) : WorkloadException(message)
{
    public bool ConnectionClosed { get; } = connectionClosed;
}
