using System.Net.Http.Headers;

namespace Outpost.Oci.Registry;

/// <summary>A parsed <c>WWW-Authenticate</c> challenge: scheme plus parameters (realm, service, scope).</summary>
internal sealed record AuthChallenge(string Scheme, IReadOnlyDictionary<string, string> Parameters)
{
    public string? Get(string name) => Parameters.TryGetValue(name, out var value) ? value : null;

    public static AuthChallenge? From(HttpHeaderValueCollection<AuthenticationHeaderValue> headers)
    {
        var preferred = headers.FirstOrDefault(h => h.Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase)) ?? headers.FirstOrDefault();
        return preferred is null ? null : new AuthChallenge(preferred.Scheme, ParseParameters(preferred.Parameter ?? ""));
    }

    // Parameters are comma-separated key="value" pairs; values may contain commas (scope lists), so honour quotes.
    internal static Dictionary<string, string> ParseParameters(string text)
    {
        var result = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var i = 0;
        while (i < text.Length)
        {
            while (i < text.Length && (text[i] == ',' || char.IsWhiteSpace(text[i])))
                i++;
            var eq = text.IndexOf('=', i);
            if (eq < 0)
                break;
            var key = text[i..eq].Trim();
            i = eq + 1;
            string value;
            if (i < text.Length && text[i] == '"')
            {
                var close = text.IndexOf('"', i + 1);
                if (close < 0)
                    close = text.Length;
                value = text[(i + 1)..close];
                i = close + 1;
            }
            else
            {
                var comma = text.IndexOf(',', i);
                if (comma < 0)
                    comma = text.Length;
                value = text[i..comma].Trim();
                i = comma;
            }
            result[key] = value;
        }
        return result;
    }
}
