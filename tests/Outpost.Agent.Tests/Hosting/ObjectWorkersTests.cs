using Outpost.Agent.Hosting;

namespace Outpost.Agent.Tests.Hosting;

/// <summary>
/// A finished step asks for another pass only when it moved its object: otherwise every pass would start steps whose
/// end starts the next pass, and an idle agent would spin (it did, at 147 % of a core, before this rule).
/// </summary>
public sealed class ObjectWorkersTests
{
    [Fact]
    public async Task A_step_that_moved_its_object_asks_for_a_pass_and_one_that_found_nothing_to_do_does_not()
    {
        var passes = 0;
        await using var workers = new ObjectWorkers(() => Interlocked.Increment(ref passes));

        Assert.True(workers.TryStart("idle", _ => Task.FromResult(false)));
        await workers.DrainAsync(cancel: false);
        Assert.Equal(0, passes);

        Assert.True(workers.TryStart("moved", _ => Task.FromResult(true)));
        await workers.DrainAsync(cancel: false);
        Assert.Equal(1, passes);

        // A slow step given as a plain Task (a pull, an unpack) always moves its object.
        Assert.True(workers.TryStart("pull", _ => Task.CompletedTask));
        await workers.DrainAsync(cancel: false);
        Assert.Equal(2, passes);
    }

    [Fact]
    public async Task A_step_that_throws_is_reported_and_waits_for_the_next_poll_instead_of_asking_for_a_pass()
    {
        var passes = 0;
        Exception? reported = null;
        await using var workers = new ObjectWorkers(() => Interlocked.Increment(ref passes));

        Assert.True(workers.TryStart("broken", _ => throw new InvalidOperationException("boom"), e => reported = e));
        await workers.DrainAsync(cancel: false);

        Assert.Equal("boom", Assert.IsType<InvalidOperationException>(reported).Message);
        Assert.Equal(0, passes);
        Assert.False(workers.IsBusy("broken"));
    }

    [Fact]
    public async Task One_step_per_object_at_a_time()
    {
        var release = new TaskCompletionSource();
        await using var workers = new ObjectWorkers(() => { });

        Assert.True(workers.TryStart("a", async _ => await release.Task));
        Assert.False(workers.TryStart("a", _ => Task.CompletedTask), "a second step for a busy object must not start");
        Assert.True(workers.TryStart("b", _ => Task.CompletedTask), "another object is not held up");
        release.SetResult();
        await workers.DrainAsync(cancel: false);
        Assert.False(workers.IsBusy("a"));
    }
}
