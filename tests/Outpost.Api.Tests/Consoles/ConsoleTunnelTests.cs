using CsCheck;
using Outpost.Api.Consoles;

namespace Outpost.Api.Tests.Consoles;

/// <summary>Console-tunnel frames come off the network: every byte string decodes to a frame in range or to nothing.</summary>
public sealed class ConsoleTunnelTests
{
    [Fact]
    public void Every_frame_round_trips_through_encode_and_decode() =>
        Gen.Select(Gen.Enum<ConsoleFrameType>(), Gen.Guid, Gen.Byte.Array[0, ConsoleTunnel.MaxPayloadBytes])
            .Sample((type, session, payload) =>
            {
                var frame = ConsoleTunnel.Decode(ConsoleTunnel.Encode(type, session, payload));
                return frame is { } f && f.Type == type && f.Session == session && f.Payload.Span.SequenceEqual(payload);
            }, iter: 200);

    [Fact]
    public void Arbitrary_bytes_decode_to_a_known_type_within_the_limit_or_to_nothing() =>
        Gen.Byte.Array[0, ConsoleTunnel.HeaderBytes + 64].Sample(bytes =>
        {
            var frame = ConsoleTunnel.Decode(bytes);
            return frame is null
                ? bytes.Length < ConsoleTunnel.HeaderBytes || bytes[0] is not (1 or 2 or 3)
                : frame.Value.Payload.Length == bytes.Length - ConsoleTunnel.HeaderBytes && Enum.IsDefined(frame.Value.Type);
        });

    [Fact]
    public void A_frame_longer_than_the_limit_is_not_decoded() =>
        Assert.Null(ConsoleTunnel.Decode(new byte[ConsoleTunnel.HeaderBytes + ConsoleTunnel.MaxPayloadBytes + 1]));

    [Fact]
    public void A_payload_over_the_limit_is_not_encoded() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => ConsoleTunnel.Encode(ConsoleFrameType.Data, Guid.NewGuid(), new byte[ConsoleTunnel.MaxPayloadBytes + 1]));

    [Fact]
    public void Open_payloads_round_trip_and_anything_else_parses_to_a_uuid_or_is_refused()
    {
        Gen.Select(Gen.Guid, Gen.Bool).Sample((app, vnc) =>
            ConsoleTunnel.TryParseOpen(ConsoleTunnel.OpenPayload(app, vnc ? ConsoleKind.Vnc : ConsoleKind.Serial), out var parsed, out var kind)
            && parsed == app && kind == (vnc ? ConsoleKind.Vnc : ConsoleKind.Serial));
        // Accepted text is a UUID, or a UUID and " vnc": never anything an app id could not be.
        Gen.String.Sample(text => !ConsoleTunnel.TryParseOpen(text, out var parsed, out var kind)
            || (Guid.TryParse(text.Split(' ')[0], out var first) && first == parsed && (kind == ConsoleKind.Serial ? !text.Contains(' ') : text.EndsWith(" vnc", StringComparison.Ordinal))));
    }
}
