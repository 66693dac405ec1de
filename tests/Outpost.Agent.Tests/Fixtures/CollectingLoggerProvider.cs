using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Outpost.Agent.Tests.Fixtures;

/// <summary>Keeps every formatted log line so tests can look for the messages an operator would see.</summary>
public sealed class CollectingLoggerProvider : ILoggerProvider
{
    public ConcurrentQueue<(LogLevel Level, string Category, string Message)> Lines { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Collector(this, categoryName);

    public IEnumerable<string> Messages(LogLevel atLeast) => Lines.Where(l => l.Level >= atLeast).Select(l => l.Message);

    public string Dump() => string.Join("\n", Lines.Select(l => $"{l.Level} {l.Category}: {l.Message}"));

    public void Dispose()
    {
    }

    private sealed class Collector(CollectingLoggerProvider owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner.Lines.Enqueue((logLevel, category, formatter(state, exception)));
    }
}
