using System.Diagnostics;
using System.Text.Json;

namespace Outpost.E2E.Tests.Lab;

/// <summary>
/// The A/B update booted for real: a lab device on 0.1.0 updates to 0.2.0 (writes IMGB, reboots into it, passes a
/// 30 s test window, commits), is rolled back to 0.1.0 on purpose (force.fallback.counter), then is given 0.3.0,
/// whose kernel panics: systemd-boot's tries run out, the machine boots 0.1.0 again by itself, and the device reports
/// 0.3.0 failed and does not try it again.
/// </summary>
public sealed partial class LabTests
{
    private static readonly TimeSpan UpdateLimit = TimeSpan.FromSeconds(600);

    [Fact]
    public async Task A_lab_device_updates_commits_is_rolled_back_and_falls_back_by_itself_from_a_version_that_panics()
    {
        await LabAsync(_root, "up", "--name", "dev1", "--image", build.LiveRaw, "--accel", "tcg", "--timeout", "300");
        var serialLog = Path.Combine(DeviceDirectory, "serial.log");
        await OutpostAsync("device", "config", "set", "dev1", "--item", "timer.config.interval=10", "--item", "timer.test.baseimage.update=30");
        var key = Path.Combine(LabDirectory, "os-signing.key");
        await OutpostAsync("os", "push", build.Version2, "--version", "0.2.0", "--sign-key", key);
        Assert.Contains("0.2.0", (await OutpostAsync("os", "list")).Output);

        // 0.2.0: downloaded, verified, written to IMGB, booted on probation, committed after its window.
        var clock = Stopwatch.StartNew();
        await OutpostAsync("device", "update", "dev1", "--version", "0.2.0");
        var updated = await WaitForSlotsAsync(s => s.Running is { Label: "IMGB", PartitionState: "active", ShortVersion: "0.2.0" } && s["IMGA"].PartitionState == "unused",
            "0.2.0 committed on IMGB");
        output.WriteLine($"device update 0.2.0 -> committed: {clock.Elapsed.TotalSeconds:0} s under TCG (test window 30 s)");
        Assert.Contains("0.1.0", updated["IMGA"].ShortVersion); // the old slot keeps what it held, unused
        var log = await File.ReadAllTextAsync(serialLog);
        Assert.Equal(2, CountOf(log, "init: boot complete"));
        Assert.Contains("(PARTLABEL=IMGB), starting", log);
        Assert.Contains("Outpost 0.2.0", (await DeviceInfoAsync("dev1")).ToString());
        var show = await OutpostAsync("device", "show", "dev1");
        Assert.Contains("IMGB", show.Output);
        Assert.Contains("active", show.Output);

        // The operator's rollback: back to 0.1.0 on IMGA, on probation like any update, then committed.
        await OutpostAsync("device", "rollback", "dev1");
        await WaitForSlotsAsync(s => s.Running is { Label: "IMGA", PartitionState: "active", ShortVersion: "0.1.0" } && s["IMGB"].PartitionState == "unused",
            "the forced fallback to 0.1.0 committed");
        Assert.Equal(3, CountOf(await File.ReadAllTextAsync(serialLog), "init: boot complete"));

        // 0.3.0 never reaches userland: its kernel panics (panic=10 reboots it), the one try is spent, 0.1.0 boots.
        await OutpostAsync("os", "push", build.Version3Panics, "--version", "0.3.0", "--sign-key", key);
        await OutpostAsync("device", "update", "dev1", "--version", "0.3.0");
        var fellBack = await WaitForSlotsAsync(s => s.Running is { Label: "IMGA", PartitionState: "active", ShortVersion: "0.1.0" }
            && s["IMGB"] is { ShortVersion: "0.3.0", UserStatus: "FAILED", PartitionState: "inprogress" }, "0.3.0 reported failed after the fallback");
        Assert.Contains("0.3.0", fellBack["IMGB"].Error);
        Assert.Contains("went down without a reboot request", fellBack["IMGB"].Error);
        log = await File.ReadAllTextAsync(serialLog);
        Assert.Contains("Kernel panic", log);
        Assert.Equal(4, CountOf(log, "init: boot complete"));

        // Not retried: the controller still asks for 0.3.0, and the device has polled its config several times since.
        var seen = await LastSeenAsync();
        await WaitForAsync(async () => await LastSeenAsync() > seen.AddSeconds(25), BootLimit, "three more config polls");
        var after = await SlotsAsync();
        Assert.Equal("FAILED", after["IMGB"].UserStatus);
        Assert.Equal("IMGA", after.Running?.Label);
        Assert.Equal(4, CountOf(await File.ReadAllTextAsync(serialLog), "init: boot complete"));
        Assert.DoesNotContain("Kernel panic", (await File.ReadAllTextAsync(serialLog))[log.Length..]);

        await LabAsync(_root, "down", "--all");
        Assert.Empty(ProcessesUnder(LabDirectory));
    }

    private sealed record Slot(string Label, string PartitionState, bool Activated, string ShortVersion, string UserStatus, string Error);

    private sealed record Slots(IReadOnlyList<Slot> All)
    {
        public Slot? Running => All.FirstOrDefault(s => s.Activated);

        public Slot this[string label] => All.FirstOrDefault(s => s.Label == label) ?? new Slot(label, "", false, "", "", "");
    }

    private async Task<Slots> SlotsAsync()
    {
        var info = await DeviceInfoAsync("dev1");
        if (!info.TryGetProperty("os", out var os) || !os.TryGetProperty("slots", out var slots) || slots.ValueKind != JsonValueKind.Array)
            return new Slots([]);
        static string Text(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : "";
        return new Slots(slots.EnumerateArray().Select(s => new Slot(Text(s, "label"), Text(s, "partitionState"),
            s.TryGetProperty("activated", out var a) && a.ValueKind == JsonValueKind.True, Text(s, "shortVersion"), Text(s, "userStatus"), Text(s, "error"))).ToList());
    }

    private async Task<Slots> WaitForSlotsAsync(Func<Slots, bool> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var slots = await SlotsAsync();
            if (condition(slots))
                return slots;
            if (clock.Elapsed > UpdateLimit)
            {
                var serial = Path.Combine(DeviceDirectory, "serial.log");
                Assert.Fail($"no {what} within {UpdateLimit.TotalSeconds:0} s; slots: {string.Join("; ", slots.All)}\nconsole:\n{(File.Exists(serial) ? await File.ReadAllTextAsync(serial) : "(none)")}");
            }

            await Task.Delay(2000);
        }
    }

    private async Task<DateTimeOffset> LastSeenAsync()
    {
        var info = await DeviceInfoAsync("dev1");
        return info.GetProperty("device").GetProperty("lastSeenAt").GetDateTimeOffset();
    }
}
