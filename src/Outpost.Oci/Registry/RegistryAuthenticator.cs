using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Outpost.Oci.Errors;

namespace Outpost.Oci.Registry;

/// <summary>
/// Answers registry challenges: Basic with configured credentials, Bearer by fetching a token from the realm
/// (sending the credentials as Basic when there are any). Tokens are cached per registry, repository and access.
/// </summary>
internal sealed class RegistryAuthenticator(HttpClient http, RegistryClientOptions options)
{
    // Tokens are renewed a little before they expire so a request never races the expiry.
    private static readonly TimeSpan ExpiryMargin = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan DefaultTokenLifetime = TimeSpan.FromSeconds(60);

    private readonly ConcurrentDictionary<string, CachedAuthorization> _cache = new();

    public static string CacheKey(string registry, string repository, bool push) => $"{registry}|{repository}|{(push ? "push" : "pull")}";

    public AuthenticationHeaderValue? GetCached(string cacheKey) =>
        _cache.TryGetValue(cacheKey, out var cached) && cached.ExpiresAt > DateTimeOffset.UtcNow ? cached.Header : null;

    public async Task<AuthenticationHeaderValue> AuthenticateAsync(
        string registry, string repository, bool push, AuthChallenge? challenge, CancellationToken cancellationToken)
    {
        options.Credentials.TryGetValue(registry, out var credentials);
        AuthenticationHeaderValue header;
        DateTimeOffset expiresAt;
        if (challenge is null || challenge.Scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase))
        {
            if (credentials is null)
                throw new RegistryAuthException(registry, HttpStatusCode.Unauthorized, "the registry requires a user name and password and none is configured");
            header = BasicHeader(credentials);
            expiresAt = DateTimeOffset.MaxValue;
        }
        else if (challenge.Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase))
        {
            var scope = push ? $"repository:{repository}:pull,push" : challenge.Get("scope") ?? $"repository:{repository}:pull";
            (header, expiresAt) = await FetchTokenAsync(registry, challenge, scope, credentials, cancellationToken);
        }
        else
        {
            throw new RegistryAuthException(registry, HttpStatusCode.Unauthorized, $"it asks for the unsupported authentication scheme '{challenge.Scheme}'");
        }
        _cache[CacheKey(registry, repository, push)] = new CachedAuthorization(header, expiresAt);
        return header;
    }

    private async Task<(AuthenticationHeaderValue, DateTimeOffset)> FetchTokenAsync(
        string registry, AuthChallenge challenge, string scope, RegistryCredentials? credentials, CancellationToken cancellationToken)
    {
        var realm = challenge.Get("realm");
        if (realm is null || !Uri.TryCreate(realm, UriKind.Absolute, out var realmUri))
            throw new RegistryAuthException(registry, HttpStatusCode.Unauthorized, "its Bearer challenge names no valid token realm");
        var query = new StringBuilder(realmUri.Query.TrimStart('?'));
        if (challenge.Get("service") is { } service)
            Append(query, "service", service);
        Append(query, "scope", scope);
        var tokenUri = new UriBuilder(realmUri) { Query = query.ToString() }.Uri;

        using var request = new HttpRequestMessage(HttpMethod.Get, tokenUri);
        if (credentials is not null)
            request.Headers.Authorization = BasicHeader(credentials);
        using var response = await http.SendAsync(request, cancellationToken);
        if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
            throw new RegistryAuthException(registry, response.StatusCode, $"the token service {realmUri.GetLeftPart(UriPartial.Path)} rejected the credentials");
        if (!response.IsSuccessStatusCode)
            throw new RegistryException($"Token service {realmUri.GetLeftPart(UriPartial.Path)} for {registry} answered {(int)response.StatusCode}. Try again later.", response.StatusCode);

        var body = await response.Content.ReadAsByteArrayAsync(cancellationToken);
        TokenResponse? token;
        try
        {
            token = JsonSerializer.Deserialize(body, TokenResponseJson.Default.TokenResponse);
        }
        catch (JsonException e)
        {
            throw new RegistryException($"Token service for {registry} returned malformed JSON: {e.Message}");
        }
        var value = token?.Token ?? token?.AccessToken;
        if (string.IsNullOrEmpty(value))
            throw new RegistryException($"Token service for {registry} returned no token.");
        var lifetime = token!.ExpiresInSeconds is > 0 ? TimeSpan.FromSeconds(token.ExpiresInSeconds.Value) : DefaultTokenLifetime;
        return (new AuthenticationHeaderValue("Bearer", value), DateTimeOffset.UtcNow + lifetime - ExpiryMargin);
    }

    private static void Append(StringBuilder query, string key, string value)
    {
        if (query.Length > 0)
            query.Append('&');
        query.Append(Uri.EscapeDataString(key)).Append('=').Append(Uri.EscapeDataString(value));
    }

    private static AuthenticationHeaderValue BasicHeader(RegistryCredentials credentials) =>
        new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{credentials.Username}:{credentials.Password}")));

    private sealed record CachedAuthorization(AuthenticationHeaderValue Header, DateTimeOffset ExpiresAt);

    internal sealed record TokenResponse
    {
        [JsonPropertyName("token")] public string? Token { get; init; }
        [JsonPropertyName("access_token")] public string? AccessToken { get; init; }
        [JsonPropertyName("expires_in")] public int? ExpiresInSeconds { get; init; }
    }
}

[JsonSerializable(typeof(RegistryAuthenticator.TokenResponse))]
internal sealed partial class TokenResponseJson : JsonSerializerContext;
