using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Outpost.Controller.Storage;

namespace Outpost.Controller.Tests.Storage;

/// <summary>
/// What every <see cref="IControllerStore"/> must do, run against each implementation by a subclass that gives
/// each test an empty database. Times are whole milliseconds where the store keeps milliseconds (registration,
/// last seen, config, onboarding) and carry sub-millisecond ticks where it keeps device timestamps.
/// </summary>
public abstract class ControllerStoreContract : IAsyncLifetime
{
    private static readonly DateTimeOffset Epoch = new(2025, 3, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly CancellationToken Ct = CancellationToken.None;

    private readonly List<IControllerStore> _opened = [];

    /// <summary>An initialized store on this test's database.</summary>
    protected IControllerStore Store { get; private set; } = null!;

    /// <summary>Creates the empty database this test uses.</summary>
    protected abstract Task CreateDatabaseAsync();

    /// <summary>A new, uninitialized store on this test's database, as another controller process would open it.</summary>
    protected abstract IControllerStore OpenStore();

    /// <summary>Removes what <see cref="CreateDatabaseAsync"/> made, after every store is disposed.</summary>
    protected virtual Task DeleteDatabaseAsync() => Task.CompletedTask;

    public async Task InitializeAsync()
    {
        await CreateDatabaseAsync();
        Store = await OpenInitializedStoreAsync();
    }

    public async Task DisposeAsync()
    {
        foreach (var store in _opened)
        {
            await store.DisposeAsync();
        }

        await DeleteDatabaseAsync();
    }

    protected async Task<IControllerStore> OpenInitializedStoreAsync()
    {
        var store = OpenStore();
        _opened.Add(store);
        await store.InitializeAsync(Ct);
        return store;
    }

    private static DateTimeOffset At(double seconds) => Epoch.AddSeconds(seconds);

    private static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    private static string Hash(string seed) => Convert.ToHexStringLower(SHA256.HashData(Bytes(seed)));

    private static OnboardingRecord NewOnboarding(string name, DateTimeOffset createdAt, params string[] serials) =>
        new(Guid.NewGuid(), name, $"-----BEGIN CERTIFICATE-----\n{name}\n-----END CERTIFICATE-----", Hash("onboarding " + name),
            serials, createdAt, Revoked: false);

    private static DeviceRecord NewDevice(string serial, string onboardingHash = "onboarding-hash", double registeredAt = 0)
    {
        var id = Guid.NewGuid();
        return new DeviceRecord(id, serial, "soft-" + serial, onboardingHash, Hash("device " + id),
            $"-----BEGIN CERTIFICATE-----\n{id}\n-----END CERTIFICATE-----", At(registeredAt), IntegrityToken: null,
            AttestedWithoutTpm: false, LastSeenAt: null);
    }

    private static DeviceConfigRecord ConfigOf(DeviceRecord device, string content, double updatedAt = 0) =>
        new(device.Id, Bytes(content), Hash(content), At(updatedAt));

    private async Task<DeviceRecord> AddDeviceAsync(string serial, double registeredAt = 0)
    {
        var device = NewDevice(serial, registeredAt: registeredAt);
        await Store.AddDeviceAsync(device, ConfigOf(device, "initial " + serial), Ct);
        return device;
    }

    private static NewLogLine Line(string content, double at = 0, ulong messageId = 1) =>
        new(At(at).AddTicks(3), "info", "pillar", content, messageId);

    private static void AssertSameOnboarding(OnboardingRecord expected, OnboardingRecord? actual)
    {
        Assert.NotNull(actual);
        Assert.Equal(expected with { AllowedSerials = [] }, actual with { AllowedSerials = [] });
        Assert.Equal(expected.AllowedSerials, actual.AllowedSerials);
    }

    private static void AssertSameConfig(DeviceConfigRecord expected, DeviceConfigRecord? actual)
    {
        Assert.NotNull(actual);
        Assert.Equal(expected.DeviceId, actual.DeviceId);
        Assert.Equal(expected.Config, actual.Config);
        Assert.Equal(expected.ConfigHash, actual.ConfigHash);
        Assert.Equal(expected.UpdatedAt, actual.UpdatedAt);
    }

    [Fact]
    public async Task Onboarding_certificates_are_listed_by_creation_found_by_hash_and_revoked()
    {
        var later = NewOnboarding("later", At(2), "serial-1", "serial-2");
        var earlier = NewOnboarding("earlier", At(1));
        await Store.AddOnboardingAsync(later, Ct);
        await Store.AddOnboardingAsync(earlier, Ct);

        var listed = await Store.ListOnboardingAsync(Ct);
        Assert.Equal(["earlier", "later"], listed.Select(o => o.Name));
        AssertSameOnboarding(earlier, listed[0]);
        AssertSameOnboarding(later, await Store.FindOnboardingByHashAsync(later.CertificateHash, Ct));
        Assert.Null(await Store.FindOnboardingByHashAsync(Hash("unknown"), Ct));

        Assert.True(await Store.RevokeOnboardingAsync(later.Id, Ct));
        AssertSameOnboarding(later with { Revoked = true }, await Store.FindOnboardingByHashAsync(later.CertificateHash, Ct));
        Assert.False((await Store.FindOnboardingByHashAsync(earlier.CertificateHash, Ct))!.Revoked);
        Assert.False(await Store.RevokeOnboardingAsync(Guid.NewGuid(), Ct));
    }

    [Fact]
    public async Task Adding_an_onboarding_certificate_twice_throws_DuplicateRecordException()
    {
        var first = NewOnboarding("first", At(1), "serial-1");
        await Store.AddOnboardingAsync(first, Ct);

        await Assert.ThrowsAsync<DuplicateRecordException>(() =>
            Store.AddOnboardingAsync(first with { Id = Guid.NewGuid(), Name = "again" }, Ct));
        Assert.Single(await Store.ListOnboardingAsync(Ct));
    }

    [Fact]
    public async Task Added_device_is_read_back_with_its_initial_config()
    {
        var device = NewDevice("serial-1", registeredAt: 1.234);
        var config = ConfigOf(device, "initial", updatedAt: 1.5);
        await Store.AddDeviceAsync(device, config, Ct);

        Assert.Equal(device, await Store.GetDeviceAsync(device.Id, Ct));
        AssertSameConfig(config, await Store.GetConfigAsync(device.Id, Ct));
        Assert.Null(await Store.GetDeviceAsync(Guid.NewGuid(), Ct));
        Assert.Null(await Store.GetConfigAsync(Guid.NewGuid(), Ct));
    }

    [Fact]
    public async Task Device_is_found_by_certificate_hash_and_by_its_16_byte_hex_prefix()
    {
        var first = await AddDeviceAsync("serial-1");
        var second = await AddDeviceAsync("serial-2");

        Assert.Equal(first, await Store.FindDeviceByCertificateHashAsync(first.CertificateHash, Ct));
        Assert.Equal(second, await Store.FindDeviceByCertificateHashAsync(second.CertificateHash, Ct));
        Assert.Equal(first, await Store.FindDeviceByCertificateHashPrefixAsync(first.CertificateHash[..32], Ct));
        Assert.Equal(second, await Store.FindDeviceByCertificateHashPrefixAsync(second.CertificateHash[..32], Ct));
        Assert.Null(await Store.FindDeviceByCertificateHashAsync(first.CertificateHash[..32], Ct));
        Assert.Null(await Store.FindDeviceByCertificateHashPrefixAsync(Hash("unknown")[..32], Ct));
    }

    [Fact]
    public async Task Device_is_found_by_onboarding_hash_and_serial()
    {
        var device = await AddDeviceAsync("serial-1");

        Assert.Equal(device, await Store.FindDeviceByOnboardingAsync(device.OnboardingHash, "serial-1", Ct));
        Assert.Null(await Store.FindDeviceByOnboardingAsync(device.OnboardingHash, "serial-2", Ct));
        Assert.Null(await Store.FindDeviceByOnboardingAsync("other-onboarding", "serial-1", Ct));
    }

    [Fact]
    public async Task Devices_are_listed_in_registration_order()
    {
        var third = await AddDeviceAsync("serial-3", registeredAt: 3);
        var first = await AddDeviceAsync("serial-1", registeredAt: 1);
        var second = await AddDeviceAsync("serial-2", registeredAt: 2);

        Assert.Equal([first, second, third], await Store.ListDevicesAsync(Ct));
    }

    [Fact]
    public async Task Adding_a_device_with_a_known_certificate_or_onboarding_serial_throws_and_stores_nothing()
    {
        var device = await AddDeviceAsync("serial-1");
        var sameCertificate = NewDevice("serial-2") with { CertificateHash = device.CertificateHash };
        var sameSerial = NewDevice("serial-1");

        await Assert.ThrowsAsync<DuplicateRecordException>(() =>
            Store.AddDeviceAsync(sameCertificate, ConfigOf(sameCertificate, "x"), Ct));
        await Assert.ThrowsAsync<DuplicateRecordException>(() =>
            Store.AddDeviceAsync(sameSerial, ConfigOf(sameSerial, "y"), Ct));

        Assert.Equal([device], await Store.ListDevicesAsync(Ct));
        Assert.Null(await Store.GetConfigAsync(sameCertificate.Id, Ct));
        Assert.Null(await Store.GetConfigAsync(sameSerial.Id, Ct));
    }

    [Fact]
    public async Task Integrity_token_and_last_seen_are_stored_on_the_device()
    {
        var device = await AddDeviceAsync("serial-1");
        var other = await AddDeviceAsync("serial-2");

        await Store.SetIntegrityTokenAsync(device.Id, "token-1", withoutTpm: true, Ct);
        await Store.TouchDeviceAsync(device.Id, At(60.125), Ct);

        var expected = device with { IntegrityToken = "token-1", AttestedWithoutTpm = true, LastSeenAt = At(60.125) };
        Assert.Equal(expected, await Store.GetDeviceAsync(device.Id, Ct));
        Assert.Equal(other, await Store.GetDeviceAsync(other.Id, Ct));

        await Store.SetIntegrityTokenAsync(device.Id, "token-2", withoutTpm: false, Ct);
        await Store.TouchDeviceAsync(device.Id, At(120), Ct);
        Assert.Equal(expected with { IntegrityToken = "token-2", AttestedWithoutTpm = false, LastSeenAt = At(120) },
            await Store.GetDeviceAsync(device.Id, Ct));
    }

    [Fact]
    public async Task Set_config_replaces_the_device_config()
    {
        var device = await AddDeviceAsync("serial-1");
        var updated = ConfigOf(device, "second version", updatedAt: 30.5);

        await Store.SetConfigAsync(updated, Ct);

        AssertSameConfig(updated, await Store.GetConfigAsync(device.Id, Ct));
    }

    [Fact]
    public async Task Info_upload_is_idempotent_and_latest_is_the_newest_per_kind_and_object()
    {
        var device = await AddDeviceAsync("serial-1");
        var other = await AddDeviceAsync("serial-2");

        Assert.True(await Store.AddInfoAsync(device.Id, 1, "app-a", At(1), Bytes("a@1"), Ct));
        Assert.False(await Store.AddInfoAsync(device.Id, 1, "app-a", At(1), Bytes("a@1"), Ct));
        Assert.False(await Store.AddInfoAsync(device.Id, 1, "app-a", At(1), Bytes("a@1 changed"), Ct));
        Assert.True(await Store.AddInfoAsync(device.Id, 1, "app-a", At(3).AddTicks(1), Bytes("a@3"), Ct));
        // An older message arriving late (a retried upload) must not hide the newer one.
        Assert.True(await Store.AddInfoAsync(device.Id, 1, "app-a", At(2), Bytes("a@2"), Ct));
        Assert.True(await Store.AddInfoAsync(device.Id, 1, "app-b", At(1), Bytes("b@1"), Ct));
        Assert.True(await Store.AddInfoAsync(device.Id, 2, "app-a", At(1), Bytes("kind2 a@1"), Ct));
        Assert.True(await Store.AddInfoAsync(other.Id, 1, "app-a", At(9), Bytes("other"), Ct));

        var latest = await Store.LatestInfoAsync(device.Id, Ct);

        Assert.Equal(5, await Store.CountInfoAsync(device.Id, Ct));
        Assert.Equal(
            new[] { (1, "app-a", At(3).AddTicks(1), "a@3"), (1, "app-b", At(1), "b@1"), (2, "app-a", At(1), "kind2 a@1") },
            latest.Select(i => (i.Kind, i.ObjectKey, i.DeviceTimestamp, Encoding.UTF8.GetString(i.Message))));
        Assert.All(latest, i => Assert.Equal(device.Id, i.DeviceId));
        Assert.All(latest, i => Assert.InRange(i.ReceivedAt, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddMinutes(1)));
        Assert.Single(await Store.LatestInfoAsync(other.Id, Ct));
    }

    [Fact]
    public async Task Metric_upload_is_idempotent_and_queries_return_the_newest_since_in_time_order()
    {
        var device = await AddDeviceAsync("serial-1");
        var other = await AddDeviceAsync("serial-2");
        foreach (var second in new[] { 3, 1, 5, 2, 4 })
        {
            Assert.True(await Store.AddMetricAsync(device.Id, At(second).AddTicks(5), Bytes($"m{second}"), Ct));
        }

        Assert.False(await Store.AddMetricAsync(device.Id, At(3).AddTicks(5), Bytes("m3 again"), Ct));
        Assert.True(await Store.AddMetricAsync(other.Id, At(3).AddTicks(5), Bytes("other"), Ct));

        static IEnumerable<string> Messages(IReadOnlyList<MetricRecord> metrics) => metrics.Select(m => Encoding.UTF8.GetString(m.Message));
        Assert.Equal(["m3", "m4", "m5"], Messages(await Store.QueryMetricsAsync(device.Id, since: null, limit: 3, Ct)));
        Assert.Equal(["m2", "m3", "m4", "m5"], Messages(await Store.QueryMetricsAsync(device.Id, At(2).AddTicks(5), limit: 10, Ct)));
        Assert.Equal(["m4", "m5"], Messages(await Store.QueryMetricsAsync(device.Id, At(2), limit: 2, Ct)));

        var all = await Store.QueryMetricsAsync(device.Id, since: null, limit: 100, Ct);
        Assert.Equal(new[] { 1, 2, 3, 4, 5 }.Select(s => At(s).AddTicks(5)), all.Select(m => m.DeviceTimestamp));
        Assert.All(all, m => Assert.Equal(device.Id, m.DeviceId));
        Assert.Equal(all.Count, all.Select(m => m.Sequence).Distinct().Count());
    }

    [Fact]
    public async Task Log_bundles_are_stored_once_per_digest_and_app()
    {
        var device = await AddDeviceAsync("serial-1");

        Assert.Equal(2, await Store.AddLogsAsync(device.Id, null, "digest-1", [Line("d1"), Line("d2")], Ct));
        Assert.Equal(0, await Store.AddLogsAsync(device.Id, null, "digest-1", [Line("d1"), Line("d2")], Ct));
        // The same digest from an app is another bundle.
        Assert.Equal(1, await Store.AddLogsAsync(device.Id, "app-1", "digest-1", [Line("a1")], Ct));
        Assert.Equal(0, await Store.AddLogsAsync(device.Id, "app-1", "digest-1", [Line("a1")], Ct));

        var logs = await Store.QueryLogsAsync(device.Id, null, 0, 100, Ct);
        Assert.Equal(["d1", "d2", "a1"], logs.Select(l => l.Content));
    }

    [Fact]
    public async Task Logs_page_by_sequence_and_filter_by_app()
    {
        var device = await AddDeviceAsync("serial-1");
        var other = await AddDeviceAsync("serial-2");
        await Store.AddLogsAsync(device.Id, null, "b1", [Line("dev-1", 1, ulong.MaxValue), Line("dev-2", 2)], Ct);
        await Store.AddLogsAsync(device.Id, "app-1", "b2", [Line("app1-1", 3), Line("app1-2", 4)], Ct);
        await Store.AddLogsAsync(other.Id, null, "b1", [Line("other", 5)], Ct);
        await Store.AddLogsAsync(device.Id, "app-2", "b3", [Line("app2-1", 6)], Ct);
        await Store.AddLogsAsync(device.Id, "app-1", "b4", [Line("app1-3", 7)], Ct);

        var all = await Store.QueryLogsAsync(device.Id, null, 0, 100, Ct);
        Assert.Equal(["dev-1", "dev-2", "app1-1", "app1-2", "app2-1", "app1-3"], all.Select(l => l.Content));
        Assert.Equal(all.Select(l => l.Sequence).Order(), all.Select(l => l.Sequence));
        Assert.Equal(all.Count, all.Select(l => l.Sequence).Distinct().Count());
        Assert.Equal(new LogRecord(all[0].Sequence, device.Id, null, At(1).AddTicks(3), "info", "pillar", "dev-1", ulong.MaxValue), all[0]);
        Assert.Equal(new LogRecord(all[2].Sequence, device.Id, "app-1", At(3).AddTicks(3), "info", "pillar", "app1-1", 1), all[2]);

        var paged = new List<LogRecord>();
        var after = 0L;
        while (await Store.QueryLogsAsync(device.Id, null, after, 4, Ct) is { Count: > 0 } page)
        {
            Assert.InRange(page.Count, 1, 4);
            paged.AddRange(page);
            after = page[^1].Sequence;
        }

        Assert.Equal(all, paged);
        Assert.Equal(["app1-1", "app1-2", "app1-3"], (await Store.QueryLogsAsync(device.Id, "app-1", 0, 100, Ct)).Select(l => l.Content));
        Assert.Equal(["app1-3"], (await Store.QueryLogsAsync(device.Id, "app-1", all[3].Sequence, 100, Ct)).Select(l => l.Content));
        Assert.Equal(["other"], (await Store.QueryLogsAsync(other.Id, null, 0, 100, Ct)).Select(l => l.Content));
    }

    [Fact]
    public async Task Deleting_a_device_deletes_its_config_info_metrics_and_logs()
    {
        var device = await AddDeviceAsync("serial-1");
        var kept = await AddDeviceAsync("serial-2");
        foreach (var target in new[] { device, kept })
        {
            await Store.AddInfoAsync(target.Id, 1, "app", At(1), Bytes("info"), Ct);
            await Store.AddMetricAsync(target.Id, At(1), Bytes("metric"), Ct);
            await Store.AddLogsAsync(target.Id, null, "bundle", [Line("log")], Ct);
        }

        Assert.True(await Store.DeleteDeviceAsync(device.Id, Ct));

        Assert.Null(await Store.GetDeviceAsync(device.Id, Ct));
        Assert.Null(await Store.GetConfigAsync(device.Id, Ct));
        Assert.Equal(0, await Store.CountInfoAsync(device.Id, Ct));
        Assert.Empty(await Store.LatestInfoAsync(device.Id, Ct));
        Assert.Empty(await Store.QueryMetricsAsync(device.Id, null, 100, Ct));
        Assert.Empty(await Store.QueryLogsAsync(device.Id, null, 0, 100, Ct));
        Assert.False(await Store.DeleteDeviceAsync(device.Id, Ct));

        // The other device keeps everything.
        Assert.NotNull(await Store.GetConfigAsync(kept.Id, Ct));
        Assert.Equal(1, await Store.CountInfoAsync(kept.Id, Ct));
        Assert.Single(await Store.QueryMetricsAsync(kept.Id, null, 100, Ct));
        Assert.Single(await Store.QueryLogsAsync(kept.Id, null, 0, 100, Ct));

        // Registered again, the device starts clean: nothing it sent before counts as a duplicate.
        await Store.AddDeviceAsync(device, ConfigOf(device, "again"), Ct);
        Assert.True(await Store.AddInfoAsync(device.Id, 1, "app", At(1), Bytes("info"), Ct));
        Assert.True(await Store.AddMetricAsync(device.Id, At(1), Bytes("metric"), Ct));
        Assert.Equal(1, await Store.AddLogsAsync(device.Id, null, "bundle", [Line("log")], Ct));
    }

    [Fact]
    public async Task Datastores_are_upserted_by_name_and_listed_by_name()
    {
        var registry = new DatastoreRecord(Guid.NewGuid(), "registry", "docker://registry.local:5000", "user", "secret", "-----BEGIN CERTIFICATE-----");
        var files = new DatastoreRecord(Guid.NewGuid(), "files", "https://files.local/images", null, null, null);
        await Store.SaveDatastoreAsync(registry, Ct);
        await Store.SaveDatastoreAsync(files, Ct);

        Assert.Equal([files, registry], await Store.ListDatastoresAsync(Ct));

        // The name is the identity: saving it again replaces the settings and keeps the first id.
        var rotated = new DatastoreRecord(Guid.NewGuid(), "registry", "docker://registry.local:5001", "user2", null, null);
        await Store.SaveDatastoreAsync(rotated, Ct);

        Assert.Equal([files, rotated with { Id = registry.Id }], await Store.ListDatastoresAsync(Ct));
    }

    [Fact]
    public async Task Two_stores_on_one_database_register_devices_and_upload_concurrently()
    {
        // Two controller processes: separate store instances, nothing shared but the database.
        IControllerStore[] stores = [await OpenInitializedStoreAsync(), await OpenInitializedStoreAsync()];
        var distinct = Enumerable.Range(0, 30).Select(i => NewDevice($"serial-{i}", registeredAt: i)).ToList();
        // Each contested serial is registered by both processes at once with different certificates: one must win.
        var contested = Enumerable.Range(0, 10).Select(i => new[] { NewDevice($"contested-{i}"), NewDevice($"contested-{i}") }).ToList();
        var duplicates = 0;

        async Task RegisterAsync(IControllerStore store, DeviceRecord device)
        {
            try
            {
                await store.AddDeviceAsync(device, ConfigOf(device, "config " + device.Id), Ct);
            }
            catch (DuplicateRecordException)
            {
                Interlocked.Increment(ref duplicates);
            }
        }

        var registrations = distinct.Select((device, i) => Task.Run(() => RegisterAsync(stores[i % 2], device)))
            .Concat(contested.SelectMany(pair => pair.Select((device, i) => Task.Run(() => RegisterAsync(stores[i], device)))));
        await Task.WhenAll(registrations);

        Assert.Equal(contested.Count, duplicates);
        var listed = await stores[1].ListDevicesAsync(Ct);
        Assert.Equal(distinct.Count + contested.Count, listed.Count);
        foreach (var device in distinct)
        {
            Assert.Equal(device, await stores[0].FindDeviceByCertificateHashAsync(device.CertificateHash, Ct));
        }

        foreach (var pair in contested)
        {
            var winner = Assert.Single(pair, d => listed.Contains(d));
            Assert.Equal(winner, await stores[1].FindDeviceByOnboardingAsync(winner.OnboardingHash, winner.Serial, Ct));
        }

        foreach (var device in listed)
        {
            AssertSameConfig(ConfigOf(device, "config " + device.Id), await stores[0].GetConfigAsync(device.Id, Ct));
        }

        // Both processes receive the same retried log bundles for one device: each is stored once, in sequence order.
        var target = distinct[0];
        var stored = new ConcurrentBag<int>();
        var uploads = Enumerable.Range(0, 20).SelectMany(bundle => stores.Select(store => Task.Run(async () =>
            stored.Add(await store.AddLogsAsync(target.Id, null, $"bundle-{bundle}", [Line($"{bundle}-a"), Line($"{bundle}-b")], Ct)))));
        await Task.WhenAll(uploads);

        Assert.Equal(40, stored.Sum());
        var logs = await stores[0].QueryLogsAsync(target.Id, null, 0, 1000, Ct);
        Assert.Equal(40, logs.Count);
        Assert.Equal(logs.Select(l => l.Sequence).Order(), logs.Select(l => l.Sequence));
        Assert.Equal(40, logs.Select(l => l.Sequence).Distinct().Count());
        Assert.Equal(40, logs.Select(l => l.Content).Distinct().Count());
    }
}
