using System.Net;

namespace Outpost.Bench.DeviceLoad;

/// <summary>The two steady-state requests a fleet sends most.</summary>
public enum RequestKind
{
    /// <summary>POST id/{uuid}/config with the current hash.</summary>
    ConfigPoll,

    /// <summary>POST id/{uuid}/info with a device info report.</summary>
    InfoPost,
}

public static class RequestKinds
{
    public static readonly RequestKind[] All = Enum.GetValues<RequestKind>();

    /// <summary>The answer a healthy controller gives; anything else counts as an error.</summary>
    public static HttpStatusCode ExpectedStatus(this RequestKind kind) => kind switch
    {
        RequestKind.ConfigPoll => HttpStatusCode.NotModified,
        RequestKind.InfoPost => HttpStatusCode.Created,
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    public static string Label(this RequestKind kind) => kind switch
    {
        RequestKind.ConfigPoll => "config poll (304)",
        RequestKind.InfoPost => "info post (201)",
        _ => kind.ToString(),
    };
}
