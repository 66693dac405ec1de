namespace Outpost.Device.Init;

/// <summary>
/// Pets /dev/watchdog only while the agent's heartbeat is fresh, so a hung agent — not only a hung kernel or PID 1 —
/// makes the hardware reset the device. Until the agent's first heartbeat a boot grace period applies (a slow first
/// boot formats persist and starts the agent). On a clean shutdown the watchdog is disarmed with the magic 'V'.
/// </summary>
internal sealed class HardwareWatchdog : IDisposable
{
    public const string HeartbeatPath = "/run/outpost/agent-heartbeat";
    private const ulong SetTimeout = 0xC0045706; // WDIOC_SETTIMEOUT = _IOWR('W', 6, int)
    private readonly FileStream _device;
    private readonly BootLog _log;
    private readonly string _heartbeat;
    private readonly DateTime _bootedAt = DateTime.UtcNow;
    private bool _starving;

    private HardwareWatchdog(FileStream device, BootLog log, string heartbeat)
    {
        _device = device;
        _log = log;
        _heartbeat = heartbeat;
    }

    /// <summary>How often the heartbeat is looked at (and the watchdog petted).</summary>
    public TimeSpan CheckInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How many times the heartbeat has been looked at.</summary>
    public int Checks => Volatile.Read(ref _checks);

    private int _checks;

    /// <summary>The hardware resets this long after the last pet.</summary>
    public static TimeSpan Timeout { get; } = TimeSpan.FromSeconds(60);

    /// <summary>A heartbeat older than this counts as a hung agent.</summary>
    public static TimeSpan HeartbeatLimit { get; } = TimeSpan.FromSeconds(90);

    /// <summary>Before the agent's first heartbeat, the device is trusted for this long after boot.</summary>
    public static TimeSpan BootGrace { get; } = TimeSpan.FromMinutes(10);

    public static HardwareWatchdog? Open(BootLog log, string path = "/dev/watchdog", string heartbeat = HeartbeatPath)
    {
        if (!File.Exists(path))
        {
            log.Say("watchdog: no hardware watchdog (/dev/watchdog); a hung device will not reset itself");
            return null;
        }
        try
        {
            var device = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite, bufferSize: 0);
            var seconds = (int)Timeout.TotalSeconds;
            if (Native.Ioctl((int)device.SafeFileHandle.DangerousGetHandle(), SetTimeout, ref seconds) != 0)
                log.Say("watchdog: the driver refused a 60 s timeout; using its default");
            log.Say($"watchdog: {path} armed, timeout {seconds} s, petted while the agent's heartbeat is under {HeartbeatLimit.TotalSeconds:0} s old");
            return new HardwareWatchdog(device, log, heartbeat);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            log.Say($"watchdog: cannot open {path}: {e.Message}");
            return null;
        }
    }

    /// <summary>Pets every few seconds while the agent is healthy, until cancelled.</summary>
    public async Task RunAsync(CancellationToken stopping)
    {
        using var timer = new PeriodicTimer(CheckInterval);
        try
        {
            do
            {
                if (AgentIsHealthy(DateTime.UtcNow)) Pet();
                Interlocked.Increment(ref _checks);
            }
            while (await timer.WaitForNextTickAsync(stopping));
        }
        catch (OperationCanceledException)
        {
        }
    }

    private bool AgentIsHealthy(DateTime now)
    {
        var beat = File.Exists(_heartbeat) ? File.GetLastWriteTimeUtc(_heartbeat) : (DateTime?)null;
        var healthy = beat is { } last ? now - last < HeartbeatLimit : now - _bootedAt < BootGrace;
        if (!healthy && !_starving)
            _log.Say(beat is null
                ? $"watchdog: no agent heartbeat {BootGrace.TotalMinutes:0} min after boot; no longer petting, the device resets in {Timeout.TotalSeconds:0} s"
                : $"watchdog: the agent's heartbeat is {(now - beat.Value).TotalSeconds:0} s old; no longer petting, the device resets in {Timeout.TotalSeconds:0} s unless it recovers");
        else if (healthy && _starving)
            _log.Say("watchdog: the agent's heartbeat is back; petting again");
        _starving = !healthy;
        return healthy;
    }

    private void Pet()
    {
        try
        {
            _device.WriteByte(0);
            _device.Flush();
        }
        catch (IOException e)
        {
            _log.Say($"watchdog: pet failed: {e.Message}");
        }
    }

    /// <summary>Disarms the watchdog (magic close) for a clean reboot or power-off that PID 1 itself performs.</summary>
    public void Disarm()
    {
        try
        {
            _device.WriteByte((byte)'V');
            _device.Flush();
        }
        catch (IOException)
        {
        }
    }

    public void Dispose() => _device.Dispose();
}
