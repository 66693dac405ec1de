namespace Outpost.Device.Init;

/// <summary>
/// A board without a battery-backed clock boots in 1970, and then no certificate is valid yet. Like systemd's
/// TIME_EPOCH, the clock is never allowed to be earlier than the image was built (the mtime of /etc/outpost-release,
/// which is SOURCE_DATE_EPOCH). The agent's controller connection then works; NTP is left to the networks issue.
/// </summary>
internal static class ClockGuard
{
    public static void Check(BootLog log)
    {
        if (!File.Exists(InitProgram.ReleaseFile)) return;
        var built = new DateTimeOffset(File.GetLastWriteTimeUtc(InitProgram.ReleaseFile));
        var now = DateTimeOffset.UtcNow;
        if (now >= built)
        {
            log.Say($"clock: {now:u}");
            return;
        }
        try
        {
            Native.SetClock(built);
            log.Say($"clock: {now:u} is before the image was built; set to {built:u}");
        }
        catch (IOException e)
        {
            log.Say($"clock: {now:u} is before the image was built and cannot be set: {e.Message}");
        }
    }
}
