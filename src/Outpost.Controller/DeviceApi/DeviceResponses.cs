using Google.Protobuf;
using Outpost.Api;
using Outpost.Api.Signing;

namespace Outpost.Controller.DeviceApi;

/// <summary>
/// Writes device API responses. Every body is a signed AuthContainer (errors too: the payload is the UTF-8
/// reason, which is also in the X-Outpost-Error header for humans and tools). Every response carries the
/// protobuf content type, because EVE's onboarding client refuses a 200/201 without one.
/// </summary>
internal sealed class DeviceResponses(EnvelopeSigner signer)
{
    public const string ErrorHeader = "X-Outpost-Error";

    public Task SignedAsync(HttpContext context, int statusCode, IMessage message) =>
        SignedAsync(context, statusCode, message.ToByteArray());

    public async Task SignedAsync(HttpContext context, int statusCode, byte[] payload)
    {
        var body = signer.Seal(payload);
        context.Response.StatusCode = statusCode;
        context.Response.ContentType = DeviceApiPaths.ProtoContentType;
        context.Response.ContentLength = body.Length;
        await context.Response.Body.WriteAsync(body, context.RequestAborted);
    }

    public void Empty(HttpContext context, int statusCode)
    {
        context.Response.StatusCode = statusCode;
        context.Response.ContentType = DeviceApiPaths.ProtoContentType;
        context.Response.ContentLength = 0;
    }

    public Task ErrorAsync(HttpContext context, int statusCode, string reason)
    {
        // Header values must be single-line ASCII.
        var headerSafe = new string(reason.Select(c => c is >= ' ' and <= '~' ? c : ' ').ToArray());
        context.Response.Headers[ErrorHeader] = headerSafe.Length > 300 ? headerSafe[..300] : headerSafe;
        return SignedAsync(context, statusCode, System.Text.Encoding.UTF8.GetBytes(reason));
    }
}
