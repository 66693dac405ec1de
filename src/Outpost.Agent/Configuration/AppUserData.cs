using System.Text;
using Outpost.Agent.Bus;

namespace Outpost.Agent.Configuration;

/// <summary>
/// What an app's userData tells a container: environment variables and an optional command override.
/// EVE sends userData base64-encoded; for containers it reads KEY=VALUE lines (also inside a
/// <c>#cloud-config</c> document's <c>runcmd</c> list) and takes EVE_ECO_CMD as the command, split like a shell would.
/// </summary>
public sealed record AppUserData(ValueList<string> Environment, ValueList<string>? Command, string? Error)
{
    public const string CommandVariable = "EVE_ECO_CMD";

    public static AppUserData Empty { get; } = new(ValueList<string>.Empty, null, null);

    public static AppUserData Decode(string? userData)
    {
        if (string.IsNullOrWhiteSpace(userData))
        {
            return Empty;
        }

        string text;
        try
        {
            text = Encoding.UTF8.GetString(Convert.FromBase64String(userData.Trim()));
        }
        catch (FormatException)
        {
            return Empty with { Error = "userData is not valid base64; EVE expects the app's user data base64-encoded." };
        }

        var env = new List<string>();
        IReadOnlyList<string>? command = null;
        string? error = null;
        foreach (var line in Lines(text))
        {
            var equals = line.IndexOf('=');
            if (equals <= 0)
            {
                continue;
            }

            var key = line[..equals].Trim();
            var value = line[(equals + 1)..];
            if (key.Any(char.IsWhiteSpace))
            {
                continue;
            }

            if (key == CommandVariable)
            {
                try
                {
                    command = ShellWords.Split(value);
                }
                catch (FormatException e)
                {
                    error = $"{CommandVariable} cannot be split into words: {e.Message}";
                }
            }
            else
            {
                env.Add($"{key}={value}");
            }
        }

        return new AppUserData(env, command is { Count: > 0 } ? command.ToValueList() : null, error);
    }

    // Plain KEY=VALUE text, or a cloud-config whose runcmd entries are KEY=VALUE (the form EVE documents for containers).
    private static IEnumerable<string> Lines(string text)
    {
        var lines = text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        if (!lines[0].TrimEnd().Equals("#cloud-config", StringComparison.Ordinal))
        {
            return lines.Where(l => !l.TrimStart().StartsWith('#'));
        }

        var result = new List<string>();
        var inRuncmd = false;
        foreach (var line in lines.Skip(1))
        {
            if (line.Length > 0 && !char.IsWhiteSpace(line[0]) && !line.StartsWith('-'))
            {
                inRuncmd = line.TrimEnd() == "runcmd:";
                continue;
            }

            var item = line.Trim();
            if (inRuncmd && item.StartsWith('-'))
            {
                result.Add(Unquote(item[1..].Trim()));
            }
        }

        return result;
    }

    private static string Unquote(string s) =>
        s.Length >= 2 && (s[0] == '"' && s[^1] == '"' || s[0] == '\'' && s[^1] == '\'') ? s[1..^1] : s;
}

/// <summary>POSIX shell word splitting for quoting only (no expansion): '…', "…" with \ escapes, and bare \.</summary>
public static class ShellWords
{
    /// <exception cref="FormatException">A quote is not closed.</exception>
    public static IReadOnlyList<string> Split(string text)
    {
        var words = new List<string>();
        var current = new StringBuilder();
        var inWord = false;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            switch (c)
            {
                case ' ' or '\t' or '\n':
                    if (inWord)
                    {
                        words.Add(current.ToString());
                        current.Clear();
                        inWord = false;
                    }

                    break;
                case '\'':
                    inWord = true;
                    var close = text.IndexOf('\'', i + 1);
                    if (close < 0)
                    {
                        throw new FormatException("a single quote is not closed");
                    }

                    current.Append(text, i + 1, close - i - 1);
                    i = close;
                    break;
                case '"':
                    inWord = true;
                    i++;
                    for (; i < text.Length && text[i] != '"'; i++)
                    {
                        if (text[i] == '\\' && i + 1 < text.Length && text[i + 1] is '"' or '\\' or '$' or '`')
                        {
                            i++;
                        }

                        current.Append(text[i]);
                    }

                    if (i >= text.Length)
                    {
                        throw new FormatException("a double quote is not closed");
                    }

                    break;
                case '\\' when i + 1 < text.Length:
                    inWord = true;
                    current.Append(text[++i]);
                    break;
                default:
                    inWord = true;
                    current.Append(c);
                    break;
            }
        }

        if (inWord)
        {
            words.Add(current.ToString());
        }

        return words;
    }
}
