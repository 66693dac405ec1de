using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Security;
using System.Net.WebSockets;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Outpost.Api.Certificates;
using Outpost.Cli.Commands;
using Outpost.Controller.AdminApi;

namespace Outpost.Cli.Admin;

/// <summary>A thin JSON client for the controller's admin API; errors become one-line CLI errors.</summary>
internal sealed class AdminClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly SocketsHttpHandler _handler;
    private readonly string _token;

    public AdminClient(ControllerLocation location)
    {
        var handler = new SocketsHttpHandler();
        _handler = handler;
        _token = location.Token;
        if (location.CaFile is not null)
        {
            var root = X509Certificate2.CreateFromPem(File.ReadAllText(location.CaFile));
            handler.SslOptions.RemoteCertificateValidationCallback = PrivateRootTrust.Callback(root);
        }

        _http = new HttpClient(handler) { BaseAddress = location.BaseAddress, Timeout = Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", location.Token);
        BaseAddress = location.BaseAddress;
    }

    public Uri BaseAddress { get; }

    public Task<T> GetAsync<T>(string path, CancellationToken ct) => SendAsync<T>(HttpMethod.Get, path, null, ct);

    public async Task<JsonElement> GetJsonAsync(string path, CancellationToken ct) => await SendAsync<JsonElement>(HttpMethod.Get, path, null, ct);

    public Task<T> PostAsync<T>(string path, object body, CancellationToken ct) => SendAsync<T>(HttpMethod.Post, path, JsonContent.Create(body), ct);

    public Task<JsonElement> PutRawJsonAsync(string path, string json, CancellationToken ct) =>
        SendAsync<JsonElement>(HttpMethod.Put, path, new StringContent(json, System.Text.Encoding.UTF8, "application/json"), ct);

    public Task<T> SendJsonAsync<T>(HttpMethod method, string path, object body, CancellationToken ct) => SendAsync<T>(method, path, JsonContent.Create(body), ct);

    public Task PutAsync(string path, object body, CancellationToken ct) => SendAsync<JsonElement?>(HttpMethod.Put, path, JsonContent.Create(body), ct);

    public Task DeleteAsync(string path, CancellationToken ct) => SendAsync<JsonElement?>(HttpMethod.Delete, path, null, ct);

    /// <summary>Streams newline-delimited JSON lines (used by `logs --follow`).</summary>
    public async IAsyncEnumerable<string> StreamLinesAsync(string path, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        using var response = await _http.GetAsync(path, HttpCompletionOption.ResponseHeadersRead, ct);
        await EnsureSuccessAsync(response, ct);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(ct));
        while (await reader.ReadLineAsync(ct) is { } line)
        {
            yield return line;
        }
    }

    /// <summary>
    /// Opens a WebSocket to an admin route with the same trust and token as every other call. The controller refuses
    /// before the upgrade with a status only (a WebSocket handshake carries no error body), so each is explained here.
    /// </summary>
    public async Task<ClientWebSocket> ConnectWebSocketAsync(string path, IReadOnlyDictionary<int, string> refusals, CancellationToken ct)
    {
        var uri = new UriBuilder(new Uri(BaseAddress, path)) { Scheme = BaseAddress.Scheme == Uri.UriSchemeHttp ? "ws" : "wss" }.Uri;
        var socket = new ClientWebSocket();
        socket.Options.SetRequestHeader("Authorization", "Bearer " + _token);
        socket.Options.CollectHttpResponseDetails = true;
        socket.Options.KeepAliveInterval = TimeSpan.FromSeconds(30);
        try
        {
            using var invoker = new HttpMessageInvoker(_handler, disposeHandler: false);
            await socket.ConnectAsync(uri, invoker, ct);
            return socket;
        }
        catch (WebSocketException e)
        {
            var status = (int)socket.HttpStatusCode;
            socket.Dispose();
            var reason = refusals.GetValueOrDefault(status) ?? status switch
            {
                401 => "the admin token was refused; check --token-file (the controller's admin.token)",
                0 => e.Message,
                _ => $"HTTP {status}",
            };
            throw new CliException($"controller refused the session ({(status == 0 ? "no answer" : status)}): {reason}");
        }
    }

    private async Task<T> SendAsync<T>(HttpMethod method, string path, HttpContent? content, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        // A body the controller refuses for its size (413) is then not uploaded first, and its reason comes back.
        request.Headers.ExpectContinue = content is not null;
        using var response = await _http.SendAsync(request, ct);
        await EnsureSuccessAsync(response, ct);
        if (response.StatusCode == HttpStatusCode.NoContent || response.Content.Headers.ContentLength == 0)
        {
            return default!;
        }

        return (await response.Content.ReadFromJsonAsync<T>(JsonSerializerOptions.Web, ct))!;
    }

    private static async Task EnsureSuccessAsync(HttpResponseMessage response, CancellationToken ct)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }

        var text = await response.Content.ReadAsStringAsync(ct);
        string detail;
        try
        {
            detail = JsonSerializer.Deserialize<AdminError>(text, JsonSerializerOptions.Web)?.Error ?? text;
        }
        catch (JsonException)
        {
            detail = text;
        }

        throw new CliException($"controller answered {(int)response.StatusCode} {response.ReasonPhrase}: {detail}");
    }

    public void Dispose() => _http.Dispose();
}
