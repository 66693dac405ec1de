using Outpost.Agent.Workloads;
using Outpost.Agent.Workloads.Runc;

namespace Outpost.Agent.Tests.Workloads;

[Collection(RuncCollection.Name)]
public sealed class RuncDriverTests : IAsyncLifetime
{
    private static readonly CancellationToken None = CancellationToken.None;
    private RuncTestHost _host = null!;

    private RuncDriver Driver => _host.Driver;

    public Task InitializeAsync()
    {
        _host = new RuncTestHost();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task Echoed_line_lands_in_the_console_log_and_ReadConsoleAsync()
    {
        var spec = _host.Spec("echo hello-from-app");
        await Driver.PrepareAsync(spec, None);
        await Driver.StartAsync(spec.Id, None);

        var status = await _host.WaitForStateAsync(spec.Id, WorkloadState.Stopped);
        Assert.Equal(0, status.ExitCode);
        Assert.Contains("hello-from-app\n", _host.ConsoleText(spec.Id));
        var chunks = new List<ConsoleChunk>();
        await foreach (var chunk in Driver.ReadConsoleAsync(spec.Id, 0, None))
        {
            chunks.Add(chunk);
        }

        Assert.Equal("hello-from-app\n", System.Text.Encoding.UTF8.GetString(chunks.SelectMany(c => c.Data.ToArray()).ToArray()));
        Assert.Empty(await ReadAllAsync(spec.Id, chunks[^1].NextOffset));
    }

    [Fact]
    public async Task Docker_rules_for_args_env_cwd_and_user_are_applied()
    {
        var spec = _host.Spec("echo image-cmd-must-be-replaced") with
        {
            Process = new WorkloadProcess(new ImageProcessConfig(
                ["sh", "-c"], ["echo image-cmd-must-be-replaced"], ["PATH=/bin", "GREETING=from-image", "IMAGE_ONLY=kept"], "/", "root"))
            {
                CommandOverride = ["echo \"args=$0,$1 env=$GREETING,$IMAGE_ONLY home=$HOME cwd=$(pwd) user=$(id -u):$(id -g) groups=$(id -G)\"", "first", "second"],
                Env = ["GREETING=from-deployment"],
                WorkingDirectory = "/work",
                User = "app",
            },
        };
        await Driver.PrepareAsync(spec, None);
        await Driver.StartAsync(spec.Id, None);
        await _host.WaitForStateAsync(spec.Id, WorkloadState.Stopped);

        Assert.Equal(
            "args=first,second env=from-deployment,kept home=/home/app cwd=/work user=1000:1000 groups=1000 2000\n",
            await _host.ReadConsoleAsync(spec.Id));
    }

    [Fact]
    public async Task Numeric_user_and_group_are_used_as_given()
    {
        var spec = _host.Spec("id -u; id -g");
        spec = spec with { Process = spec.Process with { User = "4321:8765" } };
        await Driver.PrepareAsync(spec, None);
        await Driver.StartAsync(spec.Id, None);
        await _host.WaitForStateAsync(spec.Id, WorkloadState.Stopped);

        Assert.Equal("4321\n8765\n", await _host.ReadConsoleAsync(spec.Id));
    }

    [Fact]
    public async Task Memory_and_cpu_limits_reach_the_containers_cgroup_or_are_reported_as_warnings()
    {
        const long memoryLimit = 64L * 1024 * 1024;
        var spec = _host.Spec("while true; do sleep 1; done") with { Limits = new WorkloadLimits(memoryLimit, 0.5) };
        await Driver.PrepareAsync(spec, None);
        await Driver.StartAsync(spec.Id, None);
        var status = await _host.WaitForStateAsync(spec.Id, WorkloadState.Running);

        if (Driver.Cgroups.CanLimitMemory)
        {
            Assert.Equal(memoryLimit.ToString(), HostCgroup.ReadMemoryLimit(status.Pid!.Value));
            var metrics = await Driver.GetMetricsAsync(spec.Id, None);
            Assert.NotNull(metrics);
            Assert.Equal((ulong)memoryLimit, metrics.MemoryLimitBytes);
            Assert.True(metrics.MemoryUsedBytes > 0, "a running shell uses some memory");
        }
        else
        {
            Assert.Contains(status.Warnings, w => w.Contains("memory limit"));
        }

        if (Driver.Cgroups.CanLimitCpu)
        {
            Assert.Equal("50000 100000", HostCgroup.ReadCpuQuotaAndPeriod(status.Pid!.Value));
        }
        else
        {
            Assert.Contains(status.Warnings, w => w.Contains("CPU limit"));
        }
    }

    [Fact]
    public async Task Stop_kills_a_process_that_ignores_TERM_once_the_grace_has_passed()
    {
        var spec = _host.Spec("trap '' TERM; echo ready; while true; do sleep 1; done");
        await Driver.PrepareAsync(spec, None);
        await Driver.StartAsync(spec.Id, None);
        await _host.WaitForStateAsync(spec.Id, WorkloadState.Running);

        await Driver.StopAsync(spec.Id, TimeSpan.FromMilliseconds(500), None);

        var status = await Driver.GetStatusAsync(spec.Id, None);
        Assert.Equal(WorkloadState.Stopped, status.State);
        Assert.Equal(128 + 9, status.ExitCode);
    }

    [Fact]
    public async Task Stop_lets_a_process_that_handles_TERM_exit_on_its_own()
    {
        var spec = _host.Spec("trap 'echo got-term; exit 7' TERM; while true; do sleep 1; done");
        await Driver.PrepareAsync(spec, None);
        await Driver.StartAsync(spec.Id, None);
        await _host.WaitForStateAsync(spec.Id, WorkloadState.Running);

        await Driver.StopAsync(spec.Id, TimeSpan.FromSeconds(60), None);

        var status = await Driver.GetStatusAsync(spec.Id, None);
        Assert.Equal(WorkloadState.Stopped, status.State);
        Assert.Equal(7, status.ExitCode);
        Assert.Contains("got-term", _host.ConsoleText(spec.Id));
    }

    [Fact]
    public async Task Volume_bind_is_writable_inside_and_the_data_lands_on_the_host()
    {
        var volume = Directory.CreateDirectory(Path.Combine(_host.Root, "volume")).FullName;
        var spec = _host.Spec("echo written-inside > /data/note.txt") with { Mounts = [new WorkloadMount(volume, "/data")] };
        await Driver.PrepareAsync(spec, None);
        await Driver.StartAsync(spec.Id, None);
        var status = await _host.WaitForStateAsync(spec.Id, WorkloadState.Stopped);

        Assert.Equal(0, status.ExitCode);
        Assert.Equal("written-inside\n", File.ReadAllText(Path.Combine(volume, "note.txt")));
    }

    [Fact]
    public async Task Read_only_volume_cannot_be_written()
    {
        var volume = Directory.CreateDirectory(Path.Combine(_host.Root, "ro-volume")).FullName;
        var spec = _host.Spec("echo x > /data/note.txt") with { Mounts = [new WorkloadMount(volume, "/data", ReadOnly: true)] };
        await Driver.PrepareAsync(spec, None);
        await Driver.StartAsync(spec.Id, None);
        var status = await _host.WaitForStateAsync(spec.Id, WorkloadState.Stopped);

        Assert.NotEqual(0, status.ExitCode);
        Assert.False(File.Exists(Path.Combine(volume, "note.txt")));
    }

    [Fact]
    public async Task A_new_network_namespace_has_only_loopback()
    {
        var spec = _host.Spec("cat /proc/net/dev");
        await Driver.PrepareAsync(spec, None);
        await Driver.StartAsync(spec.Id, None);
        await _host.WaitForStateAsync(spec.Id, WorkloadState.Stopped);

        var interfaces = (await _host.ReadConsoleAsync(spec.Id)).Split('\n')
            .Where(line => line.Contains(':'))
            .Select(line => line.Split(':')[0].Trim())
            .ToList();
        Assert.Equal(["lo"], interfaces);
    }

    [Fact]
    public async Task A_second_driver_over_the_same_state_root_adopts_the_running_container()
    {
        var spec = _host.Spec("while true; do sleep 1; done");
        await Driver.PrepareAsync(spec, None);
        await Driver.StartAsync(spec.Id, None);
        var before = await _host.WaitForStateAsync(spec.Id, WorkloadState.Running);

        var adopter = new RuncDriver(_host.Options);
        Assert.Contains(spec.Id, await adopter.ListAsync(None));
        await adopter.StartAsync(spec.Id, None);
        var after = await adopter.GetStatusAsync(spec.Id, None);

        Assert.Equal(WorkloadState.Running, after.State);
        Assert.Equal(before.Pid, after.Pid);
        Assert.Equal(before.StartedAt, after.StartedAt);
    }

    [Fact]
    public async Task Delete_removes_bundle_mount_runc_state_and_writable_dir_but_not_volumes()
    {
        var volume = Directory.CreateDirectory(Path.Combine(_host.Root, "kept-volume")).FullName;
        File.WriteAllText(Path.Combine(volume, "keep.txt"), "mine");
        var spec = _host.Spec("echo changed > /changed.txt; while true; do sleep 1; done") with { Mounts = [new WorkloadMount(volume, "/data")] };
        await Driver.PrepareAsync(spec, None);
        await Driver.StartAsync(spec.Id, None);
        await _host.WaitForStateAsync(spec.Id, WorkloadState.Running);
        var workloadDir = Path.Combine(_host.StateRoot, "workloads", spec.Id);
        Assert.True(RuncTestHost.IsMounted(Path.Combine(workloadDir, "bundle", "rootfs")), "the rootfs should be an overlay mount while the app runs");

        await Driver.DeleteAsync(spec.Id, None);

        Assert.False(Directory.Exists(workloadDir), "the workload directory should be gone");
        Assert.False(RuncTestHost.IsMounted(Path.Combine(workloadDir, "bundle", "rootfs")), "the overlay should be unmounted");
        Assert.NotEqual(0, RuncTestHost.Run("runc", "--root", _host.RuncRoot, "state", spec.Id).ExitCode);
        Assert.False(Directory.Exists(spec.WritableDirectory), "the writable layer should be gone");
        Assert.Equal("mine", File.ReadAllText(Path.Combine(volume, "keep.txt")));
        Assert.Equal(WorkloadState.NotFound, (await Driver.GetStatusAsync(spec.Id, None)).State);
        Assert.DoesNotContain(spec.Id, await Driver.ListAsync(None));
    }

    [Fact]
    public async Task A_stopped_workload_starts_again_with_a_fresh_exit_status()
    {
        var spec = _host.Spec("echo run; exit 3");
        await Driver.PrepareAsync(spec, None);
        await Driver.StartAsync(spec.Id, None);
        Assert.Equal(3, (await _host.WaitForStateAsync(spec.Id, WorkloadState.Stopped)).ExitCode);

        await Driver.StartAsync(spec.Id, None);
        await _host.WaitForStateAsync(spec.Id, WorkloadState.Stopped);

        Assert.Equal("run\nrun\n", await _host.ReadConsoleAsync(spec.Id));
    }

    [Fact]
    public async Task Missing_rootfs_is_a_spec_error_that_names_the_directory()
    {
        var missing = Path.Combine(_host.Root, "no-such-layer");
        var spec = _host.Spec("true") with { LowerDirectories = [missing] };

        var error = await Assert.ThrowsAsync<WorkloadSpecException>(() => Driver.PrepareAsync(spec, None));

        Assert.Contains(missing, error.Message);
        Assert.Equal(WorkloadState.NotFound, (await Driver.GetStatusAsync(spec.Id, None)).State);
    }

    [Fact]
    public async Task Unknown_user_name_is_a_spec_error_and_leaves_nothing_behind()
    {
        var spec = _host.Spec("true");
        spec = spec with { Process = spec.Process with { User = "nobody-here" } };

        var error = await Assert.ThrowsAsync<WorkloadSpecException>(() => Driver.PrepareAsync(spec, None));

        Assert.Contains("'nobody-here'", error.Message);
        Assert.Contains("/etc/passwd", error.Message);
        Assert.False(RuncTestHost.IsMounted(Path.Combine(_host.StateRoot, "workloads", spec.Id, "bundle", "rootfs")));
        Assert.False(Directory.Exists(Path.Combine(_host.StateRoot, "workloads", spec.Id)));
    }

    [Fact]
    public async Task Starting_an_unprepared_workload_is_a_not_found_error()
    {
        await Assert.ThrowsAsync<WorkloadNotFoundException>(() => Driver.StartAsync(Guid.NewGuid().ToString(), None));
    }

    [Fact]
    public async Task Console_log_rotates_past_its_cap_and_offsets_stay_continuous()
    {
        const int lines = 400;
        const int lineLength = 19; // "line-00000-padding\n"
        var small = new RuncDriver(_host.Options with { ConsoleLogMaxBytes = 4096 });
        var spec = _host.Spec($"i=0; while [ $i -lt {lines} ]; do printf 'line-%05d-padding\\n' $i; i=$((i+1)); done");
        await small.PrepareAsync(spec, None);
        await small.StartAsync(spec.Id, None);
        // Wait on the exit file rather than GetStatusAsync, which may rotate while the app still writes.
        await WaitForFileAsync(Path.Combine(_host.StateRoot, "workloads", spec.Id, "exit-status"));

        var chunks = new List<ConsoleChunk>();
        await foreach (var chunk in small.ReadConsoleAsync(spec.Id, 0, None))
        {
            chunks.Add(chunk);
        }

        Assert.True(File.Exists(Path.Combine(_host.StateRoot, "workloads", spec.Id, "console.log.1")), "the log should have rotated");
        Assert.Equal(0, chunks[0].Offset);
        for (var i = 1; i < chunks.Count; i++)
        {
            Assert.Equal(chunks[i - 1].NextOffset, chunks[i].Offset);
        }

        var text = System.Text.Encoding.ASCII.GetString(chunks.SelectMany(c => c.Data.ToArray()).ToArray());
        Assert.Equal((long)lines * lineLength, chunks[^1].NextOffset);
        Assert.StartsWith("line-00000-padding\n", text);
        Assert.EndsWith($"line-{lines - 1:00000}-padding\n", text);

        await File.AppendAllTextAsync(Path.Combine(_host.StateRoot, "workloads", spec.Id, "console.log"), "after-rotation\n");
        var tail = await ReadAllAsync(spec.Id, chunks[^1].NextOffset);
        Assert.Equal("after-rotation\n", System.Text.Encoding.ASCII.GetString(tail.Single().Data.Span));
        Assert.Equal((long)lines * lineLength, tail.Single().Offset);
    }

    private static async Task WaitForFileAsync(string path)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!File.Exists(path) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        Assert.True(File.Exists(path), $"{path} did not appear");
    }

    private async Task<List<ConsoleChunk>> ReadAllAsync(string id, long from)
    {
        var chunks = new List<ConsoleChunk>();
        await foreach (var chunk in Driver.ReadConsoleAsync(id, from, None))
        {
            chunks.Add(chunk);
        }

        return chunks;
    }
}
