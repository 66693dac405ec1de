namespace Outpost.Api.Logs;

/// <summary>A newlogs upload that is not a valid gzip file of JSON log lines.</summary>
public sealed class NewLogsFormatException(string message, Exception? inner = null) : Exception(message, inner);
