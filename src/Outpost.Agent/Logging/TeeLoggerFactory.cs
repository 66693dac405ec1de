using Microsoft.Extensions.Logging;

namespace Outpost.Agent.Logging;

/// <summary>
/// Gives every agent logger two sinks: the caller's factory (console, files, whatever the CLI set up) and the
/// newlogs capture. The caller's factory is not modified, so nothing leaks into it after the agent stops.
/// </summary>
public sealed class TeeLoggerFactory(ILoggerFactory outer, ILoggerProvider capture) : ILoggerFactory
{
    public ILogger CreateLogger(string categoryName) => new TeeLogger(outer.CreateLogger(categoryName), capture.CreateLogger(categoryName));

    public void AddProvider(ILoggerProvider provider) =>
        throw new NotSupportedException("Add providers to the factory passed to the agent instead.");

    public void Dispose()
    {
    }

    private sealed class TeeLogger(ILogger first, ILogger second) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => first.BeginScope(state);

        public bool IsEnabled(LogLevel logLevel) => first.IsEnabled(logLevel) || second.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (first.IsEnabled(logLevel))
            {
                first.Log(logLevel, eventId, state, exception, formatter);
            }

            if (second.IsEnabled(logLevel))
            {
                second.Log(logLevel, eventId, state, exception, formatter);
            }
        }
    }
}
