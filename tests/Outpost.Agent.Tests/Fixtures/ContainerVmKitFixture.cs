using Outpost.Image.Initramfs;

namespace Outpost.Agent.Tests.Fixtures;

/// <summary>The container VM kit built once per test process from the host's kernel and busybox, as `outpost image container-vm-kit` does.</summary>
public static class ContainerVmKitFixture
{
    private static readonly Lazy<Task<ContainerVmKitFiles>> Kit = new(() =>
        ContainerVmKit.BuildAsync(Path.Combine(Path.GetTempPath(), $"outpost-container-vm-kit-{Environment.ProcessId}")));

    public static Task<ContainerVmKitFiles> BuildAsync(CancellationToken ct) => Kit.Value.WaitAsync(ct);

    /// <summary>A minimal image rootfs: the static busybox as /bin/sh and its applets, and the folders a process needs.</summary>
    public static string BusyboxRootfs(string directory)
    {
        foreach (var dir in new[] { "bin", "etc", "srv", "tmp" })
        {
            Directory.CreateDirectory(Path.Combine(directory, dir));
        }

        File.Copy(TestGuest.BusyboxPath, Path.Combine(directory, "bin", "busybox"));
        foreach (var applet in new[] { "sh", "echo", "sleep", "cat", "touch", "hostname", "pwd", "ls" })
        {
            File.CreateSymbolicLink(Path.Combine(directory, "bin", applet), "busybox");
        }

        File.WriteAllText(Path.Combine(directory, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n");
        File.WriteAllText(Path.Combine(directory, "etc", "group"), "root:x:0:\nnogroup:x:65534:\n");
        return directory;
    }
}
