using Npgsql;
using NpgsqlTypes;

namespace Outpost.Controller.Storage;

/// <summary>
/// The server store: PostgreSQL through one pooled <see cref="NpgsqlDataSource"/>. Same tables, constraints and
/// time units as <see cref="SqliteControllerStore"/>; all coordination lives in the database (constraints,
/// transactions, advisory locks), so several controller processes can share one database.
/// </summary>
public sealed class PostgresControllerStore : IControllerStore
{
    /// <summary>Advisory lock namespaces (first key of the two-key form), so our locks never collide with another app's.</summary>
    private const int SchemaLock = 0x4F505354; // "OPST"
    private const int DeviceLogLock = 0x4F504C47; // "OPLG"

    private const string Schema = """
        CREATE TABLE IF NOT EXISTS onboarding (
            id uuid PRIMARY KEY,
            name text NOT NULL,
            cert_pem text NOT NULL,
            cert_hash text NOT NULL UNIQUE,
            serials text[] NOT NULL,
            created_at bigint NOT NULL,
            revoked boolean NOT NULL DEFAULT false);
        CREATE TABLE IF NOT EXISTS devices (
            id uuid PRIMARY KEY,
            serial text NOT NULL,
            soft_serial text NOT NULL,
            onboarding_hash text NOT NULL,
            cert_hash text NOT NULL UNIQUE,
            cert_pem text NOT NULL,
            registered_at bigint NOT NULL,
            integrity_token text,
            without_tpm boolean NOT NULL DEFAULT false,
            last_seen_at bigint,
            UNIQUE (onboarding_hash, serial));
        CREATE TABLE IF NOT EXISTS configs (
            device_id uuid PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
            config bytea NOT NULL,
            config_hash text NOT NULL,
            updated_at bigint NOT NULL);
        CREATE TABLE IF NOT EXISTS info (
            seq bigserial PRIMARY KEY,
            device_id uuid NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
            kind integer NOT NULL,
            object_key text NOT NULL,
            device_ts bigint NOT NULL,
            message bytea NOT NULL,
            received_at bigint NOT NULL,
            UNIQUE (device_id, kind, object_key, device_ts));
        CREATE TABLE IF NOT EXISTS metrics (
            seq bigserial PRIMARY KEY,
            device_id uuid NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
            device_ts bigint NOT NULL,
            message bytea NOT NULL,
            UNIQUE (device_id, device_ts));
        CREATE TABLE IF NOT EXISTS log_bundles (
            device_id uuid NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
            digest text NOT NULL,
            PRIMARY KEY (device_id, digest));
        CREATE TABLE IF NOT EXISTS logs (
            seq bigserial PRIMARY KEY,
            device_id uuid NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
            app_id text,
            device_ts bigint NOT NULL,
            severity text NOT NULL,
            source text NOT NULL,
            content text NOT NULL,
            msg_id bigint NOT NULL);
        CREATE TABLE IF NOT EXISTS datastores (
            id uuid PRIMARY KEY,
            name text NOT NULL UNIQUE,
            url text NOT NULL,
            username text,
            password text,
            cert_pem text);
        CREATE INDEX IF NOT EXISTS logs_by_device ON logs (device_id, app_id, seq);
        """;

    private readonly NpgsqlDataSource _dataSource;

    /// <param name="connectionString">An Npgsql key=value connection string (StoreFactory converts URLs).</param>
    public PostgresControllerStore(string connectionString)
    {
        _dataSource = NpgsqlDataSource.Create(connectionString);
    }

    public async Task InitializeAsync(CancellationToken ct)
    {
        // CREATE TABLE IF NOT EXISTS is not safe against a concurrent CREATE of the same table (it can fail on
        // the catalog's unique index), so controllers starting together take turns.
        await using var connection = await _dataSource.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        await using (var lockCommand = Command(connection, "SELECT pg_advisory_xact_lock(@ns, 0)", ("ns", SchemaLock)))
        {
            lockCommand.Transaction = transaction;
            await lockCommand.ExecuteNonQueryAsync(ct);
        }

        await using (var schema = Command(connection, Schema))
        {
            schema.Transaction = transaction;
            await schema.ExecuteNonQueryAsync(ct);
        }

        await transaction.CommitAsync(ct);
    }

    private static NpgsqlCommand Command(NpgsqlConnection connection, string sql, params (string Name, object? Value)[] parameters)
    {
        var command = new NpgsqlCommand(sql, connection);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        return command;
    }

    /// <summary>A parameter whose value may be null: Npgsql cannot infer a type from DBNull, and "@p IS NULL" needs one.</summary>
    private static NpgsqlParameter NullableText(string name, string? value) =>
        new(name, NpgsqlDbType.Text) { Value = value ?? (object)DBNull.Value };

    private static long Millis(DateTimeOffset time) => time.ToUnixTimeMilliseconds();

    private static long Nanos(DateTimeOffset time) => (time.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) * 100;

    private static DateTimeOffset FromMillis(long value) => DateTimeOffset.FromUnixTimeMilliseconds(value);

    private static DateTimeOffset FromNanos(long value) => DateTimeOffset.UnixEpoch.AddTicks(value / 100);

    private static bool IsUniqueViolation(PostgresException e) => e.SqlState == PostgresErrorCodes.UniqueViolation;

    public async Task AddOnboardingAsync(OnboardingRecord record, CancellationToken ct)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(ct);
        await using var command = Command(connection,
            "INSERT INTO onboarding (id, name, cert_pem, cert_hash, serials, created_at, revoked) VALUES (@id, @name, @pem, @hash, @serials, @created, @revoked)",
            ("id", record.Id), ("name", record.Name), ("pem", record.CertificatePem), ("hash", record.CertificateHash),
            ("serials", record.AllowedSerials.ToArray()), ("created", Millis(record.CreatedAt)), ("revoked", record.Revoked));
        try
        {
            await command.ExecuteNonQueryAsync(ct);
        }
        catch (PostgresException e) when (IsUniqueViolation(e))
        {
            throw new DuplicateRecordException("This onboarding certificate is already registered.");
        }
    }

    public async Task<IReadOnlyList<OnboardingRecord>> ListOnboardingAsync(CancellationToken ct) =>
        await QueryOnboardingAsync("SELECT * FROM onboarding ORDER BY created_at", null, ct);

    public async Task<OnboardingRecord?> FindOnboardingByHashAsync(string certificateHash, CancellationToken ct) =>
        (await QueryOnboardingAsync("SELECT * FROM onboarding WHERE cert_hash = @p", certificateHash, ct)).FirstOrDefault();

    private async Task<List<OnboardingRecord>> QueryOnboardingAsync(string sql, string? parameter, CancellationToken ct)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(ct);
        await using var command = parameter is null ? Command(connection, sql) : Command(connection, sql, ("p", parameter));
        await using var reader = await command.ExecuteReaderAsync(ct);
        var result = new List<OnboardingRecord>();
        while (await reader.ReadAsync(ct))
        {
            result.Add(new OnboardingRecord(
                reader.GetGuid(reader.GetOrdinal("id")),
                reader.GetString(reader.GetOrdinal("name")),
                reader.GetString(reader.GetOrdinal("cert_pem")),
                reader.GetString(reader.GetOrdinal("cert_hash")),
                reader.GetFieldValue<string[]>(reader.GetOrdinal("serials")),
                FromMillis(reader.GetInt64(reader.GetOrdinal("created_at"))),
                reader.GetBoolean(reader.GetOrdinal("revoked"))));
        }

        return result;
    }

    public async Task<bool> RevokeOnboardingAsync(Guid id, CancellationToken ct)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(ct);
        await using var command = Command(connection, "UPDATE onboarding SET revoked = true WHERE id = @id", ("id", id));
        return await command.ExecuteNonQueryAsync(ct) > 0;
    }

    public async Task AddDeviceAsync(DeviceRecord device, DeviceConfigRecord initialConfig, CancellationToken ct)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        await using (var insert = Command(connection,
            """
            INSERT INTO devices (id, serial, soft_serial, onboarding_hash, cert_hash, cert_pem, registered_at, integrity_token, without_tpm, last_seen_at)
            VALUES (@id, @serial, @soft, @onb, @hash, @pem, @reg, NULL, false, NULL)
            """,
            ("id", device.Id), ("serial", device.Serial), ("soft", device.SoftSerial), ("onb", device.OnboardingHash),
            ("hash", device.CertificateHash), ("pem", device.CertificatePem), ("reg", Millis(device.RegisteredAt))))
        {
            insert.Transaction = transaction;
            try
            {
                await insert.ExecuteNonQueryAsync(ct);
            }
            catch (PostgresException e) when (IsUniqueViolation(e))
            {
                // The aborted transaction rolls back when disposed.
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
        SingleDeviceAsync("SELECT * FROM devices WHERE id = @p", id, ct);

    public Task<DeviceRecord?> FindDeviceByCertificateHashAsync(string certificateHash, CancellationToken ct) =>
        SingleDeviceAsync("SELECT * FROM devices WHERE cert_hash = @p", certificateHash, ct);

    public Task<DeviceRecord?> FindDeviceByCertificateHashPrefixAsync(string hashPrefix, CancellationToken ct) =>
        SingleDeviceAsync("SELECT * FROM devices WHERE starts_with(cert_hash, @p) ORDER BY cert_hash LIMIT 1", hashPrefix, ct);

    public async Task<DeviceRecord?> FindDeviceByOnboardingAsync(string onboardingHash, string serial, CancellationToken ct)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(ct);
        await using var command = Command(connection, "SELECT * FROM devices WHERE onboarding_hash = @onb AND serial = @serial",
            ("onb", onboardingHash), ("serial", serial));
        return (await ReadDevicesAsync(command, ct)).FirstOrDefault();
    }

    public async Task<IReadOnlyList<DeviceRecord>> ListDevicesAsync(CancellationToken ct)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(ct);
        await using var command = Command(connection, "SELECT * FROM devices ORDER BY registered_at");
        return await ReadDevicesAsync(command, ct);
    }

    private async Task<DeviceRecord?> SingleDeviceAsync(string sql, object parameter, CancellationToken ct)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(ct);
        await using var command = Command(connection, sql, ("p", parameter));
        return (await ReadDevicesAsync(command, ct)).FirstOrDefault();
    }

    private static async Task<List<DeviceRecord>> ReadDevicesAsync(NpgsqlCommand command, CancellationToken ct)
    {
        await using var reader = await command.ExecuteReaderAsync(ct);
        var result = new List<DeviceRecord>();
        while (await reader.ReadAsync(ct))
        {
            var lastSeen = reader.GetOrdinal("last_seen_at");
            var token = reader.GetOrdinal("integrity_token");
            result.Add(new DeviceRecord(
                reader.GetGuid(reader.GetOrdinal("id")),
                reader.GetString(reader.GetOrdinal("serial")),
                reader.GetString(reader.GetOrdinal("soft_serial")),
                reader.GetString(reader.GetOrdinal("onboarding_hash")),
                reader.GetString(reader.GetOrdinal("cert_hash")),
                reader.GetString(reader.GetOrdinal("cert_pem")),
                FromMillis(reader.GetInt64(reader.GetOrdinal("registered_at"))),
                reader.IsDBNull(token) ? null : reader.GetString(token),
                reader.GetBoolean(reader.GetOrdinal("without_tpm")),
                reader.IsDBNull(lastSeen) ? null : FromMillis(reader.GetInt64(lastSeen))));
        }

        return result;
    }

    public async Task<bool> DeleteDeviceAsync(Guid id, CancellationToken ct)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(ct);
        await using var command = Command(connection, "DELETE FROM devices WHERE id = @id", ("id", id));
        return await command.ExecuteNonQueryAsync(ct) > 0;
    }

    public async Task SetIntegrityTokenAsync(Guid id, string token, bool withoutTpm, CancellationToken ct)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(ct);
        await using var command = Command(connection, "UPDATE devices SET integrity_token = @t, without_tpm = @w WHERE id = @id",
            ("t", token), ("w", withoutTpm), ("id", id));
        await command.ExecuteNonQueryAsync(ct);
    }

    public async Task TouchDeviceAsync(Guid id, DateTimeOffset seenAt, CancellationToken ct)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(ct);
        await using var command = Command(connection, "UPDATE devices SET last_seen_at = @t WHERE id = @id",
            ("t", Millis(seenAt)), ("id", id));
        await command.ExecuteNonQueryAsync(ct);
    }

    public async Task<DeviceConfigRecord?> GetConfigAsync(Guid deviceId, CancellationToken ct)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(ct);
        await using var command = Command(connection, "SELECT config, config_hash, updated_at FROM configs WHERE device_id = @id", ("id", deviceId));
        await using var reader = await command.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct))
        {
            return null;
        }

        return new DeviceConfigRecord(deviceId, reader.GetFieldValue<byte[]>(0), reader.GetString(1), FromMillis(reader.GetInt64(2)));
    }

    public async Task SetConfigAsync(DeviceConfigRecord config, CancellationToken ct)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(ct);
        await using var command = ConfigUpsert(connection, config);
        await command.ExecuteNonQueryAsync(ct);
    }

    private static NpgsqlCommand ConfigUpsert(NpgsqlConnection connection, DeviceConfigRecord config) => Command(connection,
        """
        INSERT INTO configs (device_id, config, config_hash, updated_at) VALUES (@id, @config, @hash, @at)
        ON CONFLICT (device_id) DO UPDATE SET config = excluded.config, config_hash = excluded.config_hash, updated_at = excluded.updated_at
        """,
        ("id", config.DeviceId), ("config", config.Config), ("hash", config.ConfigHash), ("at", Millis(config.UpdatedAt)));

    public async Task<bool> AddInfoAsync(Guid deviceId, int kind, string objectKey, DateTimeOffset deviceTimestamp, byte[] message, CancellationToken ct)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(ct);
        await using var command = Command(connection,
            """
            INSERT INTO info (device_id, kind, object_key, device_ts, message, received_at) VALUES (@id, @kind, @key, @ts, @msg, @now)
            ON CONFLICT (device_id, kind, object_key, device_ts) DO NOTHING
            """,
            ("id", deviceId), ("kind", kind), ("key", objectKey), ("ts", Nanos(deviceTimestamp)), ("msg", message),
            ("now", Millis(DateTimeOffset.UtcNow)));
        return await command.ExecuteNonQueryAsync(ct) > 0;
    }

    public async Task<IReadOnlyList<InfoRecord>> LatestInfoAsync(Guid deviceId, CancellationToken ct)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(ct);
        await using var command = Command(connection,
            """
            SELECT DISTINCT ON (kind, object_key) seq, kind, object_key, device_ts, message, received_at FROM info
            WHERE device_id = @id
            ORDER BY kind, object_key, device_ts DESC, seq DESC
            """,
            ("id", deviceId));
        await using var reader = await command.ExecuteReaderAsync(ct);
        var result = new List<InfoRecord>();
        while (await reader.ReadAsync(ct))
        {
            result.Add(new InfoRecord(reader.GetInt64(0), deviceId, reader.GetInt32(1), reader.GetString(2), FromNanos(reader.GetInt64(3)),
                reader.GetFieldValue<byte[]>(4), FromMillis(reader.GetInt64(5))));
        }

        return result;
    }

    public async Task<int> CountInfoAsync(Guid deviceId, CancellationToken ct)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(ct);
        await using var command = Command(connection, "SELECT count(*) FROM info WHERE device_id = @id", ("id", deviceId));
        return Convert.ToInt32(await command.ExecuteScalarAsync(ct));
    }

    public async Task<bool> AddMetricAsync(Guid deviceId, DateTimeOffset deviceTimestamp, byte[] message, CancellationToken ct)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(ct);
        await using var command = Command(connection,
            "INSERT INTO metrics (device_id, device_ts, message) VALUES (@id, @ts, @msg) ON CONFLICT (device_id, device_ts) DO NOTHING",
            ("id", deviceId), ("ts", Nanos(deviceTimestamp)), ("msg", message));
        return await command.ExecuteNonQueryAsync(ct) > 0;
    }

    public async Task<IReadOnlyList<MetricRecord>> QueryMetricsAsync(Guid deviceId, DateTimeOffset? since, int limit, CancellationToken ct)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(ct);
        await using var command = Command(connection,
            """
            SELECT seq, device_ts, message FROM (
                SELECT seq, device_ts, message FROM metrics WHERE device_id = @id AND device_ts >= @since ORDER BY device_ts DESC LIMIT @limit) newest
            ORDER BY device_ts
            """,
            ("id", deviceId), ("since", since is null ? 0L : Nanos(since.Value)), ("limit", limit));
        await using var reader = await command.ExecuteReaderAsync(ct);
        var result = new List<MetricRecord>();
        while (await reader.ReadAsync(ct))
        {
            result.Add(new MetricRecord(reader.GetInt64(0), deviceId, FromNanos(reader.GetInt64(1)), reader.GetFieldValue<byte[]>(2)));
        }

        return result;
    }

    public async Task<int> AddLogsAsync(Guid deviceId, string? appId, string bundleDigest, IReadOnlyList<NewLogLine> lines, CancellationToken ct)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);

        // Readers page by "seq > last seen". PostgreSQL hands out sequence numbers at insert time, not at commit,
        // so two controllers writing one device's logs could commit seq 8 after a reader already moved past 9.
        // Serializing a device's log writers until commit makes its sequence numbers visible in order.
        await using (var deviceLock = Command(connection, "SELECT pg_advisory_xact_lock(@ns, hashtext(@id::text))",
            ("ns", DeviceLogLock), ("id", deviceId)))
        {
            deviceLock.Transaction = transaction;
            await deviceLock.ExecuteNonQueryAsync(ct);
        }

        await using (var bundle = Command(connection,
            "INSERT INTO log_bundles (device_id, digest) VALUES (@id, @digest) ON CONFLICT DO NOTHING",
            ("id", deviceId), ("digest", (appId ?? "") + ":" + bundleDigest)))
        {
            bundle.Transaction = transaction;
            if (await bundle.ExecuteNonQueryAsync(ct) == 0)
            {
                return 0;
            }
        }

        if (lines.Count > 0)
        {
            // One round trip; a batch runs its statements in order, so sequence numbers follow the lines' order.
            await using var batch = new NpgsqlBatch(connection, transaction);
            foreach (var line in lines)
            {
                var insert = new NpgsqlBatchCommand(
                    "INSERT INTO logs (device_id, app_id, device_ts, severity, source, content, msg_id) VALUES ($1, $2, $3, $4, $5, $6, $7)");
                insert.Parameters.Add(new NpgsqlParameter { Value = deviceId });
                insert.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Text, Value = appId ?? (object)DBNull.Value });
                insert.Parameters.Add(new NpgsqlParameter { Value = Nanos(line.DeviceTimestamp) });
                insert.Parameters.Add(new NpgsqlParameter { Value = line.Severity });
                insert.Parameters.Add(new NpgsqlParameter { Value = line.Source });
                insert.Parameters.Add(new NpgsqlParameter { Value = line.Content });
                insert.Parameters.Add(new NpgsqlParameter { Value = unchecked((long)line.MessageId) });
                batch.BatchCommands.Add(insert);
            }

            await batch.ExecuteNonQueryAsync(ct);
        }

        await transaction.CommitAsync(ct);
        return lines.Count;
    }

    public async Task<IReadOnlyList<LogRecord>> QueryLogsAsync(Guid deviceId, string? appId, long afterSequence, int limit, CancellationToken ct)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(ct);
        await using var command = Command(connection,
            """
            SELECT seq, app_id, device_ts, severity, source, content, msg_id FROM logs
            WHERE device_id = @id AND seq > @after AND (@app IS NULL OR app_id = @app)
            ORDER BY seq LIMIT @limit
            """,
            ("id", deviceId), ("after", afterSequence), ("limit", limit));
        command.Parameters.Add(NullableText("app", appId));
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
        await using var connection = await _dataSource.OpenConnectionAsync(ct);
        await using var command = Command(connection,
            """
            INSERT INTO datastores (id, name, url, username, password, cert_pem) VALUES (@id, @name, @url, @user, @password, @cert)
            ON CONFLICT (name) DO UPDATE SET url = excluded.url, username = excluded.username, password = excluded.password, cert_pem = excluded.cert_pem
            """,
            ("id", datastore.Id), ("name", datastore.Name), ("url", datastore.Url));
        command.Parameters.Add(NullableText("user", datastore.Username));
        command.Parameters.Add(NullableText("password", datastore.Password));
        command.Parameters.Add(NullableText("cert", datastore.CertificatePem));
        await command.ExecuteNonQueryAsync(ct);
    }

    public async Task<IReadOnlyList<DatastoreRecord>> ListDatastoresAsync(CancellationToken ct)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(ct);
        await using var command = Command(connection, "SELECT id, name, url, username, password, cert_pem FROM datastores ORDER BY name");
        await using var reader = await command.ExecuteReaderAsync(ct);
        var result = new List<DatastoreRecord>();
        while (await reader.ReadAsync(ct))
        {
            result.Add(new DatastoreRecord(reader.GetGuid(0), reader.GetString(1), reader.GetString(2),
                reader.IsDBNull(3) ? null : reader.GetString(3), reader.IsDBNull(4) ? null : reader.GetString(4),
                reader.IsDBNull(5) ? null : reader.GetString(5)));
        }

        return result;
    }

    public ValueTask DisposeAsync() => _dataSource.DisposeAsync();
}
