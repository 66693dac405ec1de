using System.Security.Cryptography;
using Google.Protobuf;
using Org.Lfedge.Eve.Info;
using Org.Lfedge.Eve.Logs;
using Org.Lfedge.Eve.Metrics;
using Outpost.Api.Logs;
using Outpost.Controller.Configs;
using Outpost.Controller.Storage;

namespace Outpost.Controller.DeviceApi;

/// <summary>
/// Stores what devices report: info (one object per message), metrics and logs. Each item is keyed by what
/// the device sent (object + device timestamp, or the bundle digest), so a retried upload is stored once.
/// </summary>
internal sealed class ReportHandler(IControllerStore store, DeviceConfigService configs, TimeProvider time, LogFeed feed)
{
    public async Task InfoAsync(DeviceCall call, CancellationToken ct)
    {
        var message = Parse(ZInfoMsg.Parser, call.Payload, "ZInfoMsg");
        if (!string.IsNullOrEmpty(message.DevId) && !string.Equals(message.DevId, call.Device.Id.ToString(), StringComparison.OrdinalIgnoreCase))
        {
            throw new DeviceApiException(StatusCodes.Status403Forbidden, "ZInfoMsg.devId names another device.");
        }

        var key = ObjectKey(message);
        var timestamp = message.AtTimeStamp?.ToDateTimeOffset();
        if (timestamp is null)
        {
            // Without a device timestamp the content itself identifies a retry.
            key += "#" + Convert.ToHexStringLower(SHA256.HashData(call.Payload.Span))[..16];
        }

        await store.AddInfoAsync(call.Device.Id, (int)message.Ztype, key, timestamp ?? DateTimeOffset.UnixEpoch, call.Payload.ToArray(), ct);
    }

    /// <summary>The object an info message describes; deletions (only the id set) use the same key.</summary>
    public static string ObjectKey(ZInfoMsg message) => message.InfoContentCase switch
    {
        ZInfoMsg.InfoContentOneofCase.Dinfo => "device",
        ZInfoMsg.InfoContentOneofCase.Ainfo => "app/" + message.Ainfo.AppID,
        ZInfoMsg.InfoContentOneofCase.Vinfo => "volume/" + message.Vinfo.Uuid,
        ZInfoMsg.InfoContentOneofCase.Cinfo => "content/" + message.Cinfo.Uuid,
        ZInfoMsg.InfoContentOneofCase.Niinfo => "network/" + message.Niinfo.NetworkID,
        _ => message.InfoContentCase.ToString().ToLowerInvariant(),
    };

    public async Task MetricsAsync(DeviceCall call, CancellationToken ct)
    {
        var message = Parse(ZMetricMsg.Parser, call.Payload, "ZMetricMsg");
        var timestamp = message.AtTimeStamp?.ToDateTimeOffset() ?? time.GetUtcNow();
        await store.AddMetricAsync(call.Device.Id, timestamp, call.Payload.ToArray(), ct);
    }

    public async Task NewLogsAsync(DeviceCall call, string? appId, CancellationToken ct)
    {
        if (appId is not null)
        {
            await RequireAppAsync(call.Device.Id, appId, ct);
        }

        NewLogsFile file;
        try
        {
            file = NewLogsFormat.Unpack(call.Payload.Span);
        }
        catch (NewLogsFormatException e)
        {
            throw new DeviceApiException(StatusCodes.Status400BadRequest, $"Malformed newlogs bundle: {e.Message}");
        }

        var lines = file.Entries.Select(ToLine).ToList();
        if (await store.AddLogsAsync(call.Device.Id, appId, Digest(call.Payload), lines, ct) > 0)
        {
            feed.Notify(call.Device.Id);
        }
    }

    public async Task LegacyLogsAsync(DeviceCall call, CancellationToken ct)
    {
        var bundle = Parse(LogBundle.Parser, call.Payload, "LogBundle");
        var lines = bundle.Log.Select(ToLine).ToList();
        if (await store.AddLogsAsync(call.Device.Id, null, Digest(call.Payload), lines, ct) > 0)
        {
            feed.Notify(call.Device.Id);
        }
    }

    private async Task RequireAppAsync(Guid deviceId, string appId, CancellationToken ct)
    {
        var config = await configs.GetAsync(deviceId, ct);
        if (config is null || !config.Apps.Any(app => string.Equals(app.Uuidandversion?.Uuid, appId, StringComparison.OrdinalIgnoreCase)))
        {
            throw new DeviceApiException(StatusCodes.Status400BadRequest, $"App instance {appId} is not deployed on this device.");
        }
    }

    private NewLogLine ToLine(LogEntry entry) => new(
        entry.Timestamp?.ToDateTimeOffset() ?? time.GetUtcNow(),
        string.IsNullOrEmpty(entry.Severity) ? "info" : entry.Severity,
        entry.Source,
        entry.Content,
        entry.Msgid);

    private static string Digest(ReadOnlyMemory<byte> payload) => Convert.ToHexStringLower(SHA256.HashData(payload.Span));

    private static T Parse<T>(MessageParser<T> parser, ReadOnlyMemory<byte> payload, string name)
        where T : IMessage<T>
    {
        try
        {
            return parser.ParseFrom(payload.Span);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw DeviceApiException.Malformed(name, e);
        }
    }
}
