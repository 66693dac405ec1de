namespace Outpost.Device.Init;

/// <summary>The filesystems every Linux userland expects, mounted by PID 1 on the read-only root.</summary>
internal static class KernelFilesystems
{
    public static void Mount(BootLog log)
    {
        TryMount("proc", "/proc", "proc", Native.MsNosuid | Native.MsNodev | Native.MsNoexec);
        TryMount("sysfs", "/sys", "sysfs", Native.MsNosuid | Native.MsNodev | Native.MsNoexec);
        // The initramfs moves its devtmpfs here; mount one only when it did not.
        if (!File.Exists("/dev/null")) TryMount("devtmpfs", "/dev", "devtmpfs", Native.MsNosuid, "mode=0755");
        Directory.CreateDirectory("/dev/pts");
        TryMount("devpts", "/dev/pts", "devpts", Native.MsNosuid | Native.MsNoexec, "gid=5,mode=0620,ptmxmode=0666");
        Directory.CreateDirectory("/dev/shm");
        TryMount("tmpfs", "/dev/shm", "tmpfs", Native.MsNosuid | Native.MsNodev, "mode=1777");
        TryMount("tmpfs", "/run", "tmpfs", Native.MsNosuid | Native.MsNodev, "mode=0755");
        TryMount("tmpfs", "/tmp", "tmpfs", Native.MsNosuid | Native.MsNodev, "mode=1777");
        // runc needs the unified cgroup hierarchy to limit apps.
        TryMount("cgroup2", "/sys/fs/cgroup", "cgroup2", Native.MsNosuid | Native.MsNodev | Native.MsNoexec);
        Directory.CreateDirectory("/run/outpost");
        // Tells the agent that a reboot is a SIGTERM to this process (see HostNodePower).
        File.WriteAllText(Outpost.Agent.Node.HostNodePower.OutpostInitMarker, $"{Environment.ProcessId}\n");

        // The image's /etc is read-only: DNS servers learnt at boot go to /run, where /etc/resolv.conf points.
        Directory.CreateDirectory(Path.GetDirectoryName(BootNetwork.ResolvConf)!);
        File.WriteAllText(BootNetwork.ResolvConf, "");
        try
        {
            Native.SetHostName("outpost");
        }
        catch (IOException e)
        {
            log.Say(e.Message);
        }

        void TryMount(string source, string target, string? type, ulong flags, string? data = null)
        {
            try
            {
                Native.Mount(source, target, type, flags, data);
            }
            catch (IOException e)
            {
                log.Say(e.Message);
            }
        }
    }
}
