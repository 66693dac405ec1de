using System.Runtime.InteropServices;

namespace Outpost.Agent.Workloads.Runc;

/// <summary>
/// The few libc calls the driver needs. DllImport (not LibraryImport) because the generated
/// LibraryImport stubs need unsafe blocks, which the agent project does not allow.
/// </summary>
internal static class LibC
{
    public const int AtFdCwd = -100;
    public const int AtSymlinkNoFollow = 0x100;
    public const uint StatxType = 0x1;
    public const int MntDetach = 2;
    public const int Einval = 22;
    public const int Ebusy = 16;

    [DllImport("libc", SetLastError = true)]
    public static extern int mount(string source, string target, string fileSystemType, ulong flags, string data);

    [DllImport("libc", SetLastError = true)]
    public static extern int umount2(string target, int flags);

    /// <summary>statx rather than lstat because its buffer layout is the same on every architecture.</summary>
    [DllImport("libc", SetLastError = true)]
    public static extern int statx(int directoryFd, string path, int flags, uint mask, byte[] buffer);

    [DllImport("libc", SetLastError = true)]
    public static extern int lchown(string path, int uid, int gid);

    [DllImport("libc")]
    public static extern uint geteuid();

    public static string ErrorText(int errno) => $"{Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})";
}
