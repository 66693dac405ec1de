using System.Globalization;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Logging;
using Org.Lfedge.Eve.Logs;

namespace Outpost.Agent.Logging;

/// <summary>
/// Turns the agent's own log lines into EVE LogEntry records (source "outpost-agent") so they can be shipped
/// to the controller as newlogs. Messages are captured already formatted, and the agent never logs keys or
/// tokens, so nothing secret reaches the controller through this path.
/// </summary>
public sealed class AgentLogCapture(CapturedLogBuffer buffer, LogMessageIds messageIds, TimeProvider time, LogLevel minimumLevel = LogLevel.Information)
    : ILoggerProvider
{
    public const string Source = "outpost-agent";
    private readonly LogLevel _minimumLevel = minimumLevel;
    private static readonly string ProcessId = Environment.ProcessId.ToString(CultureInfo.InvariantCulture);

    public ILogger CreateLogger(string categoryName) => new CaptureLogger(this, categoryName);

    public void Dispose()
    {
    }

    /// <summary>Syslog-style lower-case severity names, as EVE's newlogs carry them.</summary>
    public static string SeverityName(LogLevel level) => level switch
    {
        LogLevel.Trace or LogLevel.Debug => "debug",
        LogLevel.Information => "info",
        LogLevel.Warning => "warning",
        LogLevel.Error => "error",
        LogLevel.Critical => "crit",
        _ => "info",
    };

    private void Capture(string category, LogLevel level, string message, Exception? exception)
    {
        var content = exception is null ? message : $"{message} ({exception.GetType().Name}: {exception.Message})";
        var entry = new LogEntry
        {
            Severity = SeverityName(level),
            Source = Source,
            Iid = ProcessId,
            Content = content,
            Msgid = messageIds.Next(),
            Timestamp = Timestamp.FromDateTimeOffset(time.GetUtcNow()),
        };
        entry.Tags["category"] = category;
        buffer.Add(entry);
    }

    private sealed class CaptureLogger(AgentLogCapture owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None && logLevel >= owner._minimumLevel;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                owner.Capture(category, logLevel, formatter(state, exception), exception);
            }
        }
    }
}
