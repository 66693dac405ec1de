using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Org.Lfedge.Eve.Info;
using Outpost.Agent.Outbox;

namespace Outpost.Agent.Content;

/// <summary>
/// Queues one ZInfoMsg per object (app, volume, content tree) when what it says changed. Each object has its own
/// outbox key, so a newer info supersedes an older undelivered one. After an agent restart everything is sent once.
/// Deleted objects are reported EVE's way: the message carries only the object's id.
/// </summary>
public sealed class ObjectInfoPublisher(PersistentOutbox outbox, Func<string> deviceUuid, TimeProvider time)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, ByteString> _lastSent = new(StringComparer.Ordinal);

    /// <summary>Raised after an info was queued (tests and the wiring use it to see progress).</summary>
    public event Action<ZInfoMsg>? Published;

    public void Publish(ZInfoApp app) => Publish(ZInfoTypes.ZiApp, "app_" + app.AppID, app, m => m.Ainfo = app);

    public void Publish(ZInfoVolume volume) => Publish(ZInfoTypes.ZiVolume, "volume_" + volume.Uuid, volume, m => m.Vinfo = volume);

    public void Publish(ZInfoContentTree content) => Publish(ZInfoTypes.ZiContentTree, "content_" + content.Uuid, content, m => m.Cinfo = content);

    private void Publish(ZInfoTypes type, string key, IMessage body, Action<ZInfoMsg> fill)
    {
        var bytes = body.ToByteString();
        ZInfoMsg message;
        lock (_gate)
        {
            if (_lastSent.TryGetValue(key, out var last) && last.Equals(bytes))
            {
                return;
            }

            message = new ZInfoMsg { Ztype = type, DevId = deviceUuid(), AtTimeStamp = Timestamp.FromDateTimeOffset(time.GetUtcNow()) };
            fill(message);
            outbox.Enqueue(OutboxKind.Info, SafeKey(key), message.ToByteArray());
            _lastSent[key] = bytes;
        }

        Published?.Invoke(message);
    }

    // Outbox keys allow letters, digits, '-' and '_' only; UUIDs already fit.
    private static string SafeKey(string key) =>
        new(key.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '_').Take(100).ToArray());
}
