using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace Outpost.Controller.Storage;

/// <summary>
/// The embedded default store: one SQLite file in the controller's data directory, WAL mode so readers
/// (admin API) never block device uploads. Uniqueness constraints make every upload idempotent.
/// </summary>
public sealed class SqliteControllerStore(string databasePath) : IControllerStore
{
    private readonly string _connectionString = new SqliteConnectionStringBuilder
    {
        DataSource = databasePath,
        Mode = SqliteOpenMode.ReadWriteCreate,
        Cache = SqliteCacheMode.Private,
        Pooling = true,
        DefaultTimeout = 30,
    }.ToString();

    private const string Schema = """
        PRAGMA journal_mode = WAL;
        CREATE TABLE IF NOT EXISTS onboarding (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            cert_pem TEXT NOT NULL,
            cert_hash TEXT NOT NULL UNIQUE,
            serials TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            revoked INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE IF NOT EXISTS devices (
            id TEXT PRIMARY KEY,
            serial TEXT NOT NULL,
            soft_serial TEXT NOT NULL,
            onboarding_hash TEXT NOT NULL,
            cert_hash TEXT NOT NULL UNIQUE,
            cert_pem TEXT NOT NULL,
            registered_at INTEGER NOT NULL,
            integrity_token TEXT,
            without_tpm INTEGER NOT NULL DEFAULT 0,
            last_seen_at INTEGER,
            UNIQUE (onboarding_hash, serial));
        CREATE TABLE IF NOT EXISTS configs (
            device_id TEXT PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
            config BLOB NOT NULL,
            config_hash TEXT NOT NULL,
            updated_at INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS info (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            device_id TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
            kind INTEGER NOT NULL,
            object_key TEXT NOT NULL,
            device_ts INTEGER NOT NULL,
            message BLOB NOT NULL,
            received_at INTEGER NOT NULL,
            UNIQUE (device_id, kind, object_key, device_ts));
        CREATE TABLE IF NOT EXISTS metrics (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            device_id TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
            device_ts INTEGER NOT NULL,
            message BLOB NOT NULL,
            UNIQUE (device_id, device_ts));
        CREATE TABLE IF NOT EXISTS log_bundles (
            device_id TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
            digest TEXT NOT NULL,
            PRIMARY KEY (device_id, digest));
        CREATE TABLE IF NOT EXISTS logs (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            device_id TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
            app_id TEXT,
            device_ts INTEGER NOT NULL,
            severity TEXT NOT NULL,
            source TEXT NOT NULL,
            content TEXT NOT NULL,
            msg_id INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS datastores (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            url TEXT NOT NULL,
            username TEXT,
            password TEXT,
            cert_pem TEXT);
        CREATE INDEX IF NOT EXISTS logs_by_device ON logs (device_id, app_id, seq);
        """;

    public async Task InitializeAsync(CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct);
        await ExecuteAsync(connection, Schema, ct);
    }

    private async Task<SqliteConnection> OpenAsync(CancellationToken ct)
    {
        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(ct);
        await ExecuteAsync(connection, "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;", ct);
        return connection;
    }

    private static async Task ExecuteAsync(SqliteConnection connection, string sql, CancellationToken ct)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync(ct);
    }

    private static SqliteCommand Command(SqliteConnection connection, string sql, params (string Name, object? Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        return command;
    }

    private static long Millis(DateTimeOffset time) => time.ToUnixTimeMilliseconds();

    private static long Nanos(DateTimeOffset time) => (time.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) * 100;

    private static DateTimeOffset FromMillis(long value) => DateTimeOffset.FromUnixTimeMilliseconds(value);

    private static DateTimeOffset FromNanos(long value) => DateTimeOffset.UnixEpoch.AddTicks(value / 100);

    public async Task AddOnboardingAsync(OnboardingRecord record, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct);
        await using var command = Command(connection,
            "INSERT INTO onboarding (id, name, cert_pem, cert_hash, serials, created_at, revoked) VALUES ($id, $name, $pem, $hash, $serials, $created, $revoked)",
            ("$id", record.Id.ToString()), ("$name", record.Name), ("$pem", record.CertificatePem), ("$hash", record.CertificateHash),
            ("$serials", JsonSerializer.Serialize(record.AllowedSerials)), ("$created", Millis(record.CreatedAt)), ("$revoked", record.Revoked ? 1 : 0));
        try
        {
            await command.ExecuteNonQueryAsync(ct);
        }
        catch (SqliteException e) when (e.SqliteErrorCode == 19)
        {
            throw new DuplicateRecordException("This onboarding certificate is already registered.");
        }
    }

    public async Task<IReadOnlyList<OnboardingRecord>> ListOnboardingAsync(CancellationToken ct) =>
        await QueryOnboardingAsync("SELECT * FROM onboarding ORDER BY created_at", ct);

    public async Task<OnboardingRecord?> FindOnboardingByHashAsync(string certificateHash, CancellationToken ct) =>
        (await QueryOnboardingAsync("SELECT * FROM onboarding WHERE cert_hash = $p", ct, certificateHash)).FirstOrDefault();

    private async Task<List<OnboardingRecord>> QueryOnboardingAsync(string sql, CancellationToken ct, string? parameter = null)
    {
        await using var connection = await OpenAsync(ct);
        await using var command = Command(connection, sql, ("$p", parameter));
        await using var reader = await command.ExecuteReaderAsync(ct);
        var result = new List<OnboardingRecord>();
        while (await reader.ReadAsync(ct))
        {
            result.Add(new OnboardingRecord(
                Guid.Parse(reader.GetString(reader.GetOrdinal("id"))),
                reader.GetString(reader.GetOrdinal("name")),
                reader.GetString(reader.GetOrdinal("cert_pem")),
                reader.GetString(reader.GetOrdinal("cert_hash")),
                JsonSerializer.Deserialize<string[]>(reader.GetString(reader.GetOrdinal("serials"))) ?? [],
                FromMillis(reader.GetInt64(reader.GetOrdinal("created_at"))),
                reader.GetInt64(reader.GetOrdinal("revoked")) != 0));
        }

        return result;
    }

    public async Task<bool> RevokeOnboardingAsync(Guid id, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct);
        await using var command = Command(connection, "UPDATE onboarding SET revoked = 1 WHERE id = $id", ("$id", id.ToString()));
        return await command.ExecuteNonQueryAsync(ct) > 0;
    }

    public async Task AddDeviceAsync(DeviceRecord device, DeviceConfigRecord initialConfig, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct);
        await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(ct);
        await using (var insert = Command(connection,
            """
            INSERT INTO devices (id, serial, soft_serial, onboarding_hash, cert_hash, cert_pem, registered_at, integrity_token, without_tpm, last_seen_at)
            VALUES ($id, $serial, $soft, $onb, $hash, $pem, $reg, NULL, 0, NULL)
            """,
            ("$id", device.Id.ToString()), ("$serial", device.Serial), ("$soft", device.SoftSerial), ("$onb", device.OnboardingHash),
            ("$hash", device.CertificateHash), ("$pem", device.CertificatePem), ("$reg", Millis(device.RegisteredAt))))
        {
            insert.Transaction = transaction;
            try
            {
                await insert.ExecuteNonQueryAsync(ct);
            }
            catch (SqliteException e) when (e.SqliteErrorCode == 19)
            {
                throw new DuplicateRecordException("A device with this certificate or onboarding certificate and serial exists.");
            }
        }

        await using (var config = ConfigUpsert(connection, initialConfig))
        {
            config.Transaction = transaction;
            await config.ExecuteNonQueryAsync(ct);
        }

        await transaction.CommitAsync(ct);
    }

    public Task<DeviceRecord?> GetDeviceAsync(Guid id, CancellationToken ct) =>
        SingleDeviceAsync("SELECT * FROM devices WHERE id = $p", id.ToString(), ct);

    public Task<DeviceRecord?> FindDeviceByCertificateHashAsync(string certificateHash, CancellationToken ct) =>
        SingleDeviceAsync("SELECT * FROM devices WHERE cert_hash = $p", certificateHash, ct);

    public Task<DeviceRecord?> FindDeviceByCertificateHashPrefixAsync(string hashPrefix, CancellationToken ct) =>
        SingleDeviceAsync("SELECT * FROM devices WHERE substr(cert_hash, 1, length($p)) = $p LIMIT 1", hashPrefix, ct);

    public async Task<DeviceRecord?> FindDeviceByOnboardingAsync(string onboardingHash, string serial, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct);
        await using var command = Command(connection, "SELECT * FROM devices WHERE onboarding_hash = $onb AND serial = $serial",
            ("$onb", onboardingHash), ("$serial", serial));
        return (await ReadDevicesAsync(command, ct)).FirstOrDefault();
    }

    public async Task<IReadOnlyList<DeviceRecord>> ListDevicesAsync(CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct);
        await using var command = Command(connection, "SELECT * FROM devices ORDER BY registered_at");
        return await ReadDevicesAsync(command, ct);
    }

    private async Task<DeviceRecord?> SingleDeviceAsync(string sql, string parameter, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct);
        await using var command = Command(connection, sql, ("$p", parameter));
        return (await ReadDevicesAsync(command, ct)).FirstOrDefault();
    }

    private static async Task<List<DeviceRecord>> ReadDevicesAsync(SqliteCommand command, CancellationToken ct)
    {
        await using var reader = await command.ExecuteReaderAsync(ct);
        var result = new List<DeviceRecord>();
        while (await reader.ReadAsync(ct))
        {
            var lastSeen = reader.GetOrdinal("last_seen_at");
            var token = reader.GetOrdinal("integrity_token");
            result.Add(new DeviceRecord(
                Guid.Parse(reader.GetString(reader.GetOrdinal("id"))),
                reader.GetString(reader.GetOrdinal("serial")),
                reader.GetString(reader.GetOrdinal("soft_serial")),
                reader.GetString(reader.GetOrdinal("onboarding_hash")),
                reader.GetString(reader.GetOrdinal("cert_hash")),
                reader.GetString(reader.GetOrdinal("cert_pem")),
                FromMillis(reader.GetInt64(reader.GetOrdinal("registered_at"))),
                reader.IsDBNull(token) ? null : reader.GetString(token),
                reader.GetInt64(reader.GetOrdinal("without_tpm")) != 0,
                reader.IsDBNull(lastSeen) ? null : FromMillis(reader.GetInt64(lastSeen))));
        }

        return result;
    }

    public async Task<bool> DeleteDeviceAsync(Guid id, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct);
        await using var command = Command(connection, "DELETE FROM devices WHERE id = $id", ("$id", id.ToString()));
        return await command.ExecuteNonQueryAsync(ct) > 0;
    }

    public async Task SetIntegrityTokenAsync(Guid id, string token, bool withoutTpm, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct);
        await using var command = Command(connection, "UPDATE devices SET integrity_token = $t, without_tpm = $w WHERE id = $id",
            ("$t", token), ("$w", withoutTpm ? 1 : 0), ("$id", id.ToString()));
        await command.ExecuteNonQueryAsync(ct);
    }

    public async Task TouchDeviceAsync(Guid id, DateTimeOffset seenAt, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct);
        await using var command = Command(connection, "UPDATE devices SET last_seen_at = $t WHERE id = $id",
            ("$t", Millis(seenAt)), ("$id", id.ToString()));
        await command.ExecuteNonQueryAsync(ct);
    }

    public async Task<DeviceConfigRecord?> GetConfigAsync(Guid deviceId, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct);
        await using var command = Command(connection, "SELECT config, config_hash, updated_at FROM configs WHERE device_id = $id", ("$id", deviceId.ToString()));
        await using var reader = await command.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct))
        {
            return null;
        }

        return new DeviceConfigRecord(deviceId, (byte[])reader[0], reader.GetString(1), FromMillis(reader.GetInt64(2)));
    }

    public async Task SetConfigAsync(DeviceConfigRecord config, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct);
        await using var command = ConfigUpsert(connection, config);
        await command.ExecuteNonQueryAsync(ct);
    }

    private static SqliteCommand ConfigUpsert(SqliteConnection connection, DeviceConfigRecord config) => Command(connection,
        """
        INSERT INTO configs (device_id, config, config_hash, updated_at) VALUES ($id, $config, $hash, $at)
        ON CONFLICT (device_id) DO UPDATE SET config = excluded.config, config_hash = excluded.config_hash, updated_at = excluded.updated_at
        """,
        ("$id", config.DeviceId.ToString()), ("$config", config.Config), ("$hash", config.ConfigHash), ("$at", Millis(config.UpdatedAt)));

    public async Task<bool> AddInfoAsync(Guid deviceId, int kind, string objectKey, DateTimeOffset deviceTimestamp, byte[] message, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct);
        await using var command = Command(connection,
            """
            INSERT INTO info (device_id, kind, object_key, device_ts, message, received_at) VALUES ($id, $kind, $key, $ts, $msg, $now)
            ON CONFLICT (device_id, kind, object_key, device_ts) DO NOTHING
            """,
            ("$id", deviceId.ToString()), ("$kind", kind), ("$key", objectKey), ("$ts", Nanos(deviceTimestamp)), ("$msg", message),
            ("$now", Millis(DateTimeOffset.UtcNow)));
        return await command.ExecuteNonQueryAsync(ct) > 0;
    }

    public async Task<IReadOnlyList<InfoRecord>> LatestInfoAsync(Guid deviceId, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct);
        await using var command = Command(connection,
            """
            SELECT i.seq, i.kind, i.object_key, i.device_ts, i.message, i.received_at FROM info i
            WHERE i.device_id = $id AND i.seq = (
                SELECT j.seq FROM info j WHERE j.device_id = i.device_id AND j.kind = i.kind AND j.object_key = i.object_key
                ORDER BY j.device_ts DESC, j.seq DESC LIMIT 1)
            ORDER BY i.kind, i.object_key
            """,
            ("$id", deviceId.ToString()));
        await using var reader = await command.ExecuteReaderAsync(ct);
        var result = new List<InfoRecord>();
        while (await reader.ReadAsync(ct))
        {
            result.Add(new InfoRecord(reader.GetInt64(0), deviceId, reader.GetInt32(1), reader.GetString(2), FromNanos(reader.GetInt64(3)),
                (byte[])reader[4], FromMillis(reader.GetInt64(5))));
        }

        return result;
    }

    public async Task<int> CountInfoAsync(Guid deviceId, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct);
        await using var command = Command(connection, "SELECT count(*) FROM info WHERE device_id = $id", ("$id", deviceId.ToString()));
        return Convert.ToInt32(await command.ExecuteScalarAsync(ct));
    }

    public async Task<bool> AddMetricAsync(Guid deviceId, DateTimeOffset deviceTimestamp, byte[] message, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct);
        await using var command = Command(connection,
            "INSERT INTO metrics (device_id, device_ts, message) VALUES ($id, $ts, $msg) ON CONFLICT (device_id, device_ts) DO NOTHING",
            ("$id", deviceId.ToString()), ("$ts", Nanos(deviceTimestamp)), ("$msg", message));
        return await command.ExecuteNonQueryAsync(ct) > 0;
    }

    public async Task<IReadOnlyList<MetricRecord>> QueryMetricsAsync(Guid deviceId, DateTimeOffset? since, int limit, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct);
        await using var command = Command(connection,
            """
            SELECT seq, device_ts, message FROM (
                SELECT seq, device_ts, message FROM metrics WHERE device_id = $id AND device_ts >= $since ORDER BY device_ts DESC LIMIT $limit)
            ORDER BY device_ts
            """,
            ("$id", deviceId.ToString()), ("$since", since is null ? 0 : Nanos(since.Value)), ("$limit", limit));
        await using var reader = await command.ExecuteReaderAsync(ct);
        var result = new List<MetricRecord>();
        while (await reader.ReadAsync(ct))
        {
            result.Add(new MetricRecord(reader.GetInt64(0), deviceId, FromNanos(reader.GetInt64(1)), (byte[])reader[2]));
        }

        return result;
    }

    public async Task<int> AddLogsAsync(Guid deviceId, string? appId, string bundleDigest, IReadOnlyList<NewLogLine> lines, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct);
        await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(ct);
        await using (var bundle = Command(connection,
            "INSERT INTO log_bundles (device_id, digest) VALUES ($id, $digest) ON CONFLICT DO NOTHING",
            ("$id", deviceId.ToString()), ("$digest", (appId ?? "") + ":" + bundleDigest)))
        {
            bundle.Transaction = transaction;
            if (await bundle.ExecuteNonQueryAsync(ct) == 0)
            {
                return 0;
            }
        }

        await using var insert = Command(connection,
            "INSERT INTO logs (device_id, app_id, device_ts, severity, source, content, msg_id) VALUES ($id, $app, $ts, $sev, $src, $content, $msg)",
            ("$id", deviceId.ToString()), ("$app", appId), ("$ts", 0L), ("$sev", ""), ("$src", ""), ("$content", ""), ("$msg", 0L));
        insert.Transaction = transaction;
        foreach (var line in lines)
        {
            insert.Parameters["$ts"].Value = Nanos(line.DeviceTimestamp);
            insert.Parameters["$sev"].Value = line.Severity;
            insert.Parameters["$src"].Value = line.Source;
            insert.Parameters["$content"].Value = line.Content;
            insert.Parameters["$msg"].Value = unchecked((long)line.MessageId);
            await insert.ExecuteNonQueryAsync(ct);
        }

        await transaction.CommitAsync(ct);
        return lines.Count;
    }

    public async Task<IReadOnlyList<LogRecord>> QueryLogsAsync(Guid deviceId, string? appId, long afterSequence, int limit, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct);
        await using var command = Command(connection,
            """
            SELECT seq, app_id, device_ts, severity, source, content, msg_id FROM logs
            WHERE device_id = $id AND seq > $after AND ($app IS NULL OR app_id = $app)
            ORDER BY seq LIMIT $limit
            """,
            ("$id", deviceId.ToString()), ("$after", afterSequence), ("$app", appId), ("$limit", limit));
        await using var reader = await command.ExecuteReaderAsync(ct);
        var result = new List<LogRecord>();
        while (await reader.ReadAsync(ct))
        {
            result.Add(new LogRecord(reader.GetInt64(0), deviceId, reader.IsDBNull(1) ? null : reader.GetString(1),
                FromNanos(reader.GetInt64(2)), reader.GetString(3), reader.GetString(4), reader.GetString(5), unchecked((ulong)reader.GetInt64(6))));
        }

        return result;
    }

    public async Task SaveDatastoreAsync(DatastoreRecord datastore, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct);
        await using var command = Command(connection,
            """
            INSERT INTO datastores (id, name, url, username, password, cert_pem) VALUES ($id, $name, $url, $user, $password, $cert)
            ON CONFLICT (name) DO UPDATE SET url = excluded.url, username = excluded.username, password = excluded.password, cert_pem = excluded.cert_pem
            """,
            ("$id", datastore.Id.ToString()), ("$name", datastore.Name), ("$url", datastore.Url), ("$user", datastore.Username),
            ("$password", datastore.Password), ("$cert", datastore.CertificatePem));
        await command.ExecuteNonQueryAsync(ct);
    }

    public async Task<IReadOnlyList<DatastoreRecord>> ListDatastoresAsync(CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct);
        await using var command = Command(connection, "SELECT id, name, url, username, password, cert_pem FROM datastores ORDER BY name");
        await using var reader = await command.ExecuteReaderAsync(ct);
        var result = new List<DatastoreRecord>();
        while (await reader.ReadAsync(ct))
        {
            result.Add(new DatastoreRecord(Guid.Parse(reader.GetString(0)), reader.GetString(1), reader.GetString(2),
                reader.IsDBNull(3) ? null : reader.GetString(3), reader.IsDBNull(4) ? null : reader.GetString(4),
                reader.IsDBNull(5) ? null : reader.GetString(5)));
        }

        return result;
    }

    public ValueTask DisposeAsync()
    {
        SqliteConnection.ClearAllPools();
        return ValueTask.CompletedTask;
    }
}

/// <summary>A record that must be unique already exists.</summary>
public sealed class DuplicateRecordException(string message) : Exception(message);
