namespace Outpost.Api;

/// <summary>Paths and media types of the EVE device API v2.</summary>
public static class DeviceApiPaths
{
    public const string Prefix = "/api/v2/edgedevice";
    public const string Ping = Prefix + "/ping";
    public const string Certs = Prefix + "/certs";
    public const string Register = Prefix + "/register";
    public const string Uuid = Prefix + "/uuid";

    /// <summary>The content type of every protobuf body, request or response.</summary>
    public const string ProtoContentType = "application/x-proto-binary";

    public static string Device(string deviceUuid, string action) => $"{Prefix}/id/{deviceUuid}/{action}";

    public static string Config(string deviceUuid) => Device(deviceUuid, "config");

    public static string Attest(string deviceUuid) => Device(deviceUuid, "attest");

    public static string Info(string deviceUuid) => Device(deviceUuid, "info");

    public static string Metrics(string deviceUuid) => Device(deviceUuid, "metrics");

    public static string NewLogs(string deviceUuid) => Device(deviceUuid, "newlogs");

    public static string Logs(string deviceUuid) => Device(deviceUuid, "logs");

    public static string AppNewLogs(string deviceUuid, string appUuid) => Device(deviceUuid, $"apps/instanceid/{appUuid}/newlogs");
}
