using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Outpost.Agent.Tests.Fixtures;

/// <summary>
/// A pseudo-terminal pair on the host (posix_openpt): the slave's path stands in for a serial port passed through to a
/// VM (these machines have no spare UART), the master is the far end of the cable the test reads.
/// </summary>
public sealed partial class HostPty : IDisposable
{
    private const int ReadWrite = 2;
    private const int NoControllingTerminal = 0x100;

    private readonly FileStream _master;
    private readonly StringBuilder _received = new();
    private readonly Thread _reader;

    public HostPty()
    {
        var fd = posix_openpt(ReadWrite | NoControllingTerminal);
        if (fd < 0 || grantpt(fd) != 0 || unlockpt(fd) != 0)
        {
            throw new InvalidOperationException($"posix_openpt failed (errno {Marshal.GetLastPInvokeError()}).");
        }

        var name = new byte[128];
        if (ptsname_r(fd, name, name.Length) != 0)
        {
            throw new InvalidOperationException($"ptsname_r failed (errno {Marshal.GetLastPInvokeError()}).");
        }

        SlavePath = Encoding.ASCII.GetString(name, 0, Array.IndexOf(name, (byte)0));
        _master = new FileStream(new SafeFileHandle(fd, ownsHandle: true), FileAccess.ReadWrite, 1);
        _reader = new Thread(Read) { IsBackground = true, Name = "host pty reader" };
        _reader.Start();
    }

    /// <summary>/dev/pts/N: what QEMU is given as the host serial port.</summary>
    public string SlavePath { get; }

    public string Received
    {
        get
        {
            lock (_received)
            {
                return _received.ToString();
            }
        }
    }

    private void Read()
    {
        var buffer = new byte[4096];
        try
        {
            int read;
            while ((read = _master.Read(buffer)) > 0)
            {
                lock (_received)
                {
                    _received.Append(Encoding.UTF8.GetString(buffer, 0, read));
                }
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            // EIO once no one holds the slave open, or the pty was closed.
        }
    }

    public void Dispose() => _master.Dispose();

    [LibraryImport("libc", SetLastError = true)]
    private static partial int posix_openpt(int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int grantpt(int fd);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int unlockpt(int fd);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int ptsname_r(int fd, byte[] buffer, nint length);
}
