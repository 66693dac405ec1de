using Microsoft.Extensions.Logging;
using Outpost.Agent.Logging;
using Outpost.Agent.Tests.Fixtures;

namespace Outpost.Agent.Tests.Logging;

public sealed class AgentLogCaptureTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void Captured_lines_carry_syslog_severity_source_and_increasing_ids_that_continue_after_a_restart()
    {
        var idFile = Path.Combine(_temp.Path, "log-msgid");
        var buffer = new CapturedLogBuffer();
        var time = new ManualTimeProvider();
        var ids = new LogMessageIds(idFile);
        using (var capture = new AgentLogCapture(buffer, ids, time))
        {
            var logger = capture.CreateLogger("Test");
            logger.LogInformation("hello {Name}", "world");
            logger.LogWarning("careful");
            logger.LogDebug("not shipped");
        }

        ids.SaveExact();
        var restartedIds = new LogMessageIds(idFile);
        using (var capture = new AgentLogCapture(buffer, restartedIds, time))
        {
            capture.CreateLogger("Test").LogError("after restart");
        }

        var entries = buffer.DrainAll();
        Assert.Equal(["hello world", "careful", "after restart"], entries.Select(e => e.Content));
        Assert.Equal(["info", "warning", "error"], entries.Select(e => e.Severity));
        Assert.All(entries, e => Assert.Equal(AgentLogCapture.Source, e.Source));
        Assert.Equal([1UL, 2UL, 3UL], entries.Select(e => e.Msgid));
    }

    [Fact]
    public void After_a_crash_ids_skip_ahead_instead_of_repeating()
    {
        var idFile = Path.Combine(_temp.Path, "log-msgid");
        var crashed = new LogMessageIds(idFile);
        var used = Enumerable.Range(0, 5).Select(_ => crashed.Next()).ToList();

        var next = new LogMessageIds(idFile).Next();

        Assert.True(next > used.Max(), $"id {next} was handed out again after a crash");
    }

    [Fact]
    public void Full_buffer_drops_the_oldest_lines_and_counts_them()
    {
        var buffer = new CapturedLogBuffer(capacity: 2);
        foreach (var content in new[] { "a", "b", "c" })
        {
            buffer.Add(new Org.Lfedge.Eve.Logs.LogEntry { Content = content });
        }

        Assert.Equal(["b", "c"], buffer.DrainAll().Select(e => e.Content));
        Assert.Equal(1, buffer.Dropped);
    }
}
