namespace Outpost.Controller.Storage;

/// <summary>Chooses the store from the options: the embedded SQLite file unless a connection is given.</summary>
internal static class StoreFactory
{
    public static IControllerStore Create(ControllerOptions options) => options.StoreConnection switch
    {
        null or "" or "sqlite" => new SqliteControllerStore(Path.Combine(options.DataDirectory, "controller.db")),
        var other when other.StartsWith("sqlite:", StringComparison.Ordinal) => new SqliteControllerStore(other["sqlite:".Length..]),
        var other => throw new ArgumentException(
            $"Unsupported store '{other}'. Use 'sqlite' (default) or 'sqlite:/path/file.db'; PostgreSQL is not implemented yet."),
    };
}
