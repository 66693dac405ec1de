using System.Diagnostics;
using Outpost.Agent.Tests.Fixtures;
using Outpost.Agent.Workloads.Qemu;

namespace Outpost.Agent.Tests.Workloads.Qemu;

/// <summary>QMP against a real QEMU with no guest at all (machine "none"), which starts in a moment and boots nothing.</summary>
public sealed class QmpClientTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    private Process StartQemu(string socket)
    {
        var start = new ProcessStartInfo(QemuCommandLine.Executable) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in new[] { "-machine", "none", "-nodefaults", "-display", "none", "-chardev", $"socket,id=qmp0,path={socket},server=on,wait=off", "-mon", "chardev=qmp0,mode=control" })
        {
            start.ArgumentList.Add(arg);
        }

        return Process.Start(start)!;
    }

    private static async Task<QmpClient> ConnectWhenListeningAsync(string socket, Process qemu)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            try
            {
                return await QmpClient.ConnectAsync(socket, CancellationToken.None);
            }
            catch (QmpException) when (DateTime.UtcNow < deadline && !qemu.HasExited)
            {
                await Task.Delay(50);
            }
        }
    }

    [Fact]
    public async Task Quit_over_qmp_ends_qemu_after_its_status_was_read()
    {
        var socket = System.IO.Path.Combine(_temp.Path, "qmp.sock");
        using var qemu = StartQemu(socket);
        try
        {
            await using var qmp = await ConnectWhenListeningAsync(socket, qemu);
            var status = await qmp.ExecuteAsync("query-status", CancellationToken.None);
            Assert.True(status.TryGetProperty("status", out var state), status.GetRawText());
            Assert.False(string.IsNullOrEmpty(state.GetString()));

            var error = await Assert.ThrowsAsync<QmpException>(() => qmp.ExecuteAsync("no-such-command", CancellationToken.None));
            Assert.Contains("CommandNotFound", error.Message);

            await qmp.QuitAsync(CancellationToken.None);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await qemu.WaitForExitAsync(timeout.Token);
            Assert.True(qemu.HasExited);
        }
        finally
        {
            if (!qemu.HasExited)
            {
                qemu.Kill();
                await qemu.WaitForExitAsync();
            }
        }
    }

    [Fact]
    public async Task Connecting_where_nothing_listens_says_to_check_the_vm_is_running()
    {
        var error = await Assert.ThrowsAsync<QmpException>(() => QmpClient.ConnectAsync(System.IO.Path.Combine(_temp.Path, "absent.sock"), CancellationToken.None));
        Assert.Contains("is the VM running?", error.Message);
    }

    public void Dispose() => _temp.Dispose();
}
