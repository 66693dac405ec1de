using System.Globalization;
using System.Text;

namespace Outpost.Api.Logs;

/// <summary>
/// gzip header names and comments are zero-terminated ISO 8859-1 (Go's gzip writer refuses anything else),
/// so characters above U+00FF travel as \uXXXX escapes (UTF-16 code units, as in JSON).
/// </summary>
internal static class Latin1Text
{
    public static byte[] EncodeEscaped(string text)
    {
        var escaped = new StringBuilder(text.Length);
        foreach (var c in text)
        {
            if (c > '\u00FF')
            {
                escaped.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:X4}");
            }
            else if (c == '\0')
            {
                // NUL would end the header field early.
                escaped.Append("\\u0000");
            }
            else
            {
                escaped.Append(c);
            }
        }

        return Encoding.Latin1.GetBytes(escaped.ToString());
    }

    /// <summary>
    /// Reverses <see cref="EncodeEscaped"/>. A name that literally contained "\u" followed by four hex digits
    /// cannot be told apart from an escape; EVE's app names do not contain backslashes in practice.
    /// </summary>
    public static string DecodeEscaped(ReadOnlySpan<byte> latin1)
    {
        var text = Encoding.Latin1.GetString(latin1);
        if (!text.Contains("\\u", StringComparison.Ordinal))
        {
            return text;
        }

        var decoded = new StringBuilder(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == '\\' && i + 5 < text.Length && text[i + 1] == 'u'
                && ushort.TryParse(text.AsSpan(i + 2, 4), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var unit))
            {
                decoded.Append((char)unit);
                i += 5;
            }
            else
            {
                decoded.Append(text[i]);
            }
        }

        return decoded.ToString();
    }
}
