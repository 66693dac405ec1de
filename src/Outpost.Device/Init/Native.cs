using System.Runtime.InteropServices;

namespace Outpost.Device.Init;

/// <summary>The few Linux system calls PID 1 needs that .NET does not wrap. Every one returns -1 and sets errno on failure.</summary>
internal static partial class Native
{
    public const ulong MsRdonly = 1, MsNosuid = 2, MsNodev = 4, MsNoexec = 8, MsRemount = 32, MsBind = 4096, MsMove = 8192, MsRec = 16384, MsRelatime = 1 << 21;
    public const int SigChld = 17, SigTerm = 15, SigKill = 9, SigUsr2 = 12;
    public const int RebootRestart = 0x01234567, RebootPowerOff = 0x4321fedc, RebootCadOff = 0;
    public const int MntDetach = 2;

    [LibraryImport("libc", EntryPoint = "mount", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int MountNative(string? source, string target, string? type, ulong flags, string? data);

    [LibraryImport("libc", EntryPoint = "umount2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Umount2(string target, int flags);

    [LibraryImport("libc", EntryPoint = "reboot", SetLastError = true)]
    private static partial int RebootNative(int command);

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    public static partial int Kill(int pid, int signal);

    [LibraryImport("libc", EntryPoint = "sync")]
    public static partial void Sync();

    [LibraryImport("libc", EntryPoint = "sethostname", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SetHostNameNative(string name, nuint length);

    [LibraryImport("libc", EntryPoint = "clock_settime", SetLastError = true)]
    private static partial int ClockSetTime(int clock, in TimeSpec time);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    public static partial int Ioctl(int fd, ulong request, ref int argument);

    [StructLayout(LayoutKind.Sequential)]
    private readonly record struct TimeSpec(long Seconds, long Nanoseconds);

    /// <summary>mount(2); a failure is an IOException naming what could not be mounted and why.</summary>
    public static void Mount(string? source, string target, string? type, ulong flags = 0, string? data = null)
    {
        if (MountNative(source, target, type, flags, data) != 0)
            throw new IOException($"mount {source ?? type} on {target} ({type}): {Marshal.GetLastPInvokeErrorMessage()}");
    }

    public static bool TryUnmount(string target, bool detach = false) => Umount2(target, detach ? MntDetach : 0) == 0;

    public static void Reboot(int command)
    {
        if (RebootNative(command) != 0)
            throw new IOException($"reboot(0x{command:x}): {Marshal.GetLastPInvokeErrorMessage()}");
    }

    public static void SetHostName(string name)
    {
        var length = (nuint)System.Text.Encoding.UTF8.GetByteCount(name);
        if (SetHostNameNative(name, length) != 0)
            throw new IOException($"sethostname {name}: {Marshal.GetLastPInvokeErrorMessage()}");
    }

    public static void SetClock(DateTimeOffset time)
    {
        if (ClockSetTime(0, new TimeSpec(time.ToUnixTimeSeconds(), 0)) != 0)
            throw new IOException($"clock_settime: {Marshal.GetLastPInvokeErrorMessage()}");
    }
}
