using Npgsql;

namespace Outpost.Controller.Storage;

/// <summary>
/// Chooses the store from the options: the embedded SQLite file unless a connection is given. PostgreSQL takes a
/// URL (<c>postgres://user:pass@host:port/db?sslmode=require</c>, or <c>postgresql://</c>) or an Npgsql
/// key=value string after <c>postgres:</c>.
/// </summary>
internal static class StoreFactory
{
    private const string PostgresPrefix = "postgres:";

    public static IControllerStore Create(ControllerOptions options) => options.StoreConnection switch
    {
        null or "" or "sqlite" => new SqliteControllerStore(Path.Combine(options.DataDirectory, "controller.db")),
        var other when other.StartsWith("sqlite:", StringComparison.Ordinal) => new SqliteControllerStore(other["sqlite:".Length..]),
        var other when IsPostgresUrl(other) || other.StartsWith(PostgresPrefix, StringComparison.Ordinal) =>
            new PostgresControllerStore(PostgresConnectionString(other)),
        // Only the scheme is echoed: the rest may hold a password.
        var other => throw new ArgumentException(
            $"Unsupported store '{other.Split(':')[0]}:...'. Use 'sqlite' (default), 'sqlite:/path/file.db', "
            + "'postgres://user:pass@host:port/db' or 'postgres:Host=...;Database=...'."),
    };

    private static bool IsPostgresUrl(string value) =>
        value.StartsWith("postgres://", StringComparison.Ordinal) || value.StartsWith("postgresql://", StringComparison.Ordinal);

    /// <summary>Turns the store option into an Npgsql connection string; throws ArgumentException when it is malformed.</summary>
    internal static string PostgresConnectionString(string option)
    {
        if (!IsPostgresUrl(option))
        {
            return Validated(() => new NpgsqlConnectionStringBuilder(option[PostgresPrefix.Length..]));
        }

        if (!Uri.TryCreate(option, UriKind.Absolute, out var uri) || uri.Host.Length == 0)
        {
            throw new ArgumentException("The PostgreSQL URL is malformed. Use postgres://user:pass@host:port/db (percent-encode special characters).");
        }

        return Validated(() =>
        {
            var builder = new NpgsqlConnectionStringBuilder
            {
                // DnsSafeHost drops the brackets around an IPv6 literal.
                Host = uri.DnsSafeHost,
                Port = uri.IsDefaultPort || uri.Port < 0 ? 5432 : uri.Port,
            };
            var database = Uri.UnescapeDataString(uri.AbsolutePath.Trim('/'));
            if (database.Length > 0)
            {
                builder.Database = database;
            }

            if (uri.UserInfo.Length > 0)
            {
                var colon = uri.UserInfo.IndexOf(':');
                builder.Username = Uri.UnescapeDataString(colon < 0 ? uri.UserInfo : uri.UserInfo[..colon]);
                if (colon >= 0)
                {
                    builder.Password = Uri.UnescapeDataString(uri.UserInfo[(colon + 1)..]);
                }
            }

            // Query parameters are Npgsql keywords (sslmode, timeout, maximum pool size, ...).
            foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
            {
                var equals = pair.IndexOf('=');
                var key = Uri.UnescapeDataString(equals < 0 ? pair : pair[..equals]);
                builder[key] = equals < 0 ? "true" : Uri.UnescapeDataString(pair[(equals + 1)..]);
            }

            return builder;
        });
    }

    /// <summary>Builds and reports a bad keyword or value without echoing the string, which may hold a password.</summary>
    private static string Validated(Func<NpgsqlConnectionStringBuilder> build)
    {
        try
        {
            return build().ConnectionString;
        }
        catch (Exception e) when (e is ArgumentException or FormatException or InvalidCastException)
        {
            throw new ArgumentException($"The PostgreSQL connection string is invalid: {e.Message}", e);
        }
    }
}
