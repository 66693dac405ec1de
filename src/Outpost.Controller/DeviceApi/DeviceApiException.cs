namespace Outpost.Controller.DeviceApi;

/// <summary>A device request refused with an HTTP status and a reason the device (and its operator) can act on.</summary>
public sealed class DeviceApiException(int statusCode, string reason) : Exception(reason)
{
    public int StatusCode { get; } = statusCode;

    public static DeviceApiException Malformed(string what, Exception inner) =>
        new(StatusCodes.Status400BadRequest, $"Malformed {what}: {inner.Message}");
}
