using Org.Lfedge.Eve.Logs;
using Outpost.Agent.Logging;

namespace Outpost.Agent.Tests.Logging;

public sealed class CapturedLogBufferTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("outpost-logjournal-").FullName;

    private static LogEntry Line(ulong id) => new() { Msgid = id, Content = $"line {id}", Severity = "info" };

    [Fact]
    public void Lines_logged_before_a_kill_are_recovered_from_the_journal_by_the_next_run()
    {
        var killed = new CapturedLogBuffer(_directory);
        killed.Add(Line(1));
        killed.Add(Line(2));
        // No Dispose, no drain: the process died here.

        using var next = new CapturedLogBuffer(_directory);
        Assert.Equal([1UL, 2UL], next.DrainAll().Select(e => e.Msgid));
    }

    [Fact]
    public void A_drain_that_was_not_committed_is_recovered_and_a_committed_one_is_not()
    {
        var first = new CapturedLogBuffer(_directory);
        first.Add(Line(1));
        first.DrainAll();
        first.CommitDrain();
        first.Add(Line(2));
        first.DrainAll(); // packed but never queued: the agent died before CommitDrain
        first.Add(Line(3));
        first.Dispose();

        using var next = new CapturedLogBuffer(_directory);
        Assert.Equal([2UL, 3UL], next.DrainAll().Select(e => e.Msgid));
    }

    [Fact]
    public void A_torn_last_record_keeps_every_complete_record_before_it()
    {
        var buffer = new CapturedLogBuffer(_directory);
        buffer.Add(Line(1));
        buffer.Add(Line(2));
        buffer.Dispose();
        var journal = Path.Combine(_directory, "logs.journal");
        var bytes = File.ReadAllBytes(journal);
        File.WriteAllBytes(journal, bytes[..^3]);

        using var next = new CapturedLogBuffer(_directory);
        Assert.Equal([1UL], next.DrainAll().Select(e => e.Msgid));
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
