using Org.Lfedge.Eve.Logs;

namespace Outpost.Api.Logs;

/// <summary>
/// Metadata carried in a newlogs gzip header. Device logs set <see cref="DevId"/>, <see cref="Image"/> and
/// <see cref="EveVersion"/> (written as the header comment); app logs set only <see cref="AppName"/>
/// (written as the header file name).
/// </summary>
public sealed record NewLogsHeader(string? DevId, string? Image, string? EveVersion, string? AppName)
{
    public bool IsAppLog => !string.IsNullOrEmpty(AppName);
}

/// <summary>One decoded newlogs file.</summary>
public sealed record NewLogsFile(NewLogsHeader Header, DateTimeOffset ModTime, IReadOnlyList<LogEntry> Entries);
