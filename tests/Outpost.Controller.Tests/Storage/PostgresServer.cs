using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace Outpost.Controller.Tests.Storage;

/// <summary>
/// A throwaway PostgreSQL cluster for one test class: initdb in a temp dir, a server on 127.0.0.1 and a free
/// port (unix socket inside the temp dir, so it never meets a system server), stopped and deleted on dispose.
/// PostgreSQL refuses to run as root, so as root the server runs as the 'postgres' user.
/// </summary>
public sealed class PostgresServer : IAsyncLifetime
{
    private const string ServiceUser = "postgres";

    private string _directory = "";
    private string _binaries = "";

    public int Port { get; private set; }

    /// <summary>The superuser; initdb makes it with trust authentication for local connections.</summary>
    public string User => ServiceUser;

    private string DataDirectory => Path.Combine(_directory, "data");

    public async Task InitializeAsync()
    {
        _binaries = FindBinaries();
        _directory = Directory.CreateTempSubdirectory("outpost-pg-test-").FullName;
        var socketDirectory = Path.Combine(_directory, "socket");
        Directory.CreateDirectory(socketDirectory);
        if (Environment.IsPrivilegedProcess)
        {
            await RunAsync("chown", ["-R", $"{ServiceUser}:{ServiceUser}", _directory], asServiceUser: false);
        }

        await RunAsync(Path.Combine(_binaries, "initdb"),
            ["-D", DataDirectory, "-U", ServiceUser, "--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync"]);
        Port = FreePort();
        // fsync off: the cluster is deleted after the run, durability buys nothing but time.
        var serverOptions = $"-c listen_addresses=127.0.0.1 -p {Port} -k {socketDirectory} -c fsync=off -c max_connections=200";
        var log = Path.Combine(_directory, "server.log");
        try
        {
            await RunAsync(Path.Combine(_binaries, "pg_ctl"), ["-D", DataDirectory, "-l", log, "-o", serverOptions, "-w", "-t", "60", "start"]);
        }
        catch (InvalidOperationException e) when (File.Exists(log))
        {
            throw new InvalidOperationException($"{e.Message}\nserver log:\n{await File.ReadAllTextAsync(log)}", e);
        }
    }

    /// <summary>Creates an empty database and returns an Npgsql connection string for it.</summary>
    public async Task<string> CreateDatabaseAsync()
    {
        var name = "store_" + Guid.NewGuid().ToString("N");
        await using (var connection = new NpgsqlConnection(ConnectionString("postgres") + ";Pooling=false"))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
            await command.ExecuteNonQueryAsync();
        }

        return ConnectionString(name);
    }

    public string ConnectionString(string database) => new NpgsqlConnectionStringBuilder
    {
        Host = "127.0.0.1",
        Port = Port,
        Username = ServiceUser,
        Database = database,
    }.ConnectionString;

    public async Task DisposeAsync()
    {
        if (_directory.Length == 0)
        {
            return;
        }

        NpgsqlConnection.ClearAllPools();
        if (File.Exists(Path.Combine(DataDirectory, "postmaster.pid")))
        {
            // Immediate: the data is thrown away, so there is nothing to flush.
            await RunAsync(Path.Combine(_binaries, "pg_ctl"), ["-D", DataDirectory, "-m", "immediate", "-w", "stop"]);
        }

        Directory.Delete(_directory, recursive: true);
    }

    private static string FindBinaries()
    {
        var candidates = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql")
                .Select(version => Path.Combine(version, "bin"))
                .Where(bin => File.Exists(Path.Combine(bin, "initdb")) && File.Exists(Path.Combine(bin, "pg_ctl")))
                .OrderByDescending(bin => int.TryParse(Path.GetFileName(Path.GetDirectoryName(bin)), out var major) ? major : 0)
                .ToList()
            : [];
        return candidates.FirstOrDefault() ?? throw new InvalidOperationException(
            "PostgreSQL server binaries (initdb, pg_ctl) were not found under /usr/lib/postgresql/<version>/bin. "
            + "The PostgreSQL store tests need a real server: install postgresql (apt-get install postgresql).");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task RunAsync(string program, IReadOnlyList<string> arguments, bool asServiceUser = true)
    {
        var start = new ProcessStartInfo { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (asServiceUser && Environment.IsPrivilegedProcess)
        {
            start.FileName = "runuser";
            foreach (var prefix in new[] { "-u", ServiceUser, "--", program })
            {
                start.ArgumentList.Add(prefix);
            }
        }
        else
        {
            start.FileName = program;
        }

        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {program}.");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"{Path.GetFileName(program)} {string.Join(' ', arguments)} exited with {process.ExitCode}:\n{await output}\n{await error}");
        }
    }
}
