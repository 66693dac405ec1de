using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Outpost.Agent.Workloads.Runc;
using Outpost.Api.ContainerVm;

namespace Outpost.Agent.Workloads.Qemu;

/// <summary>What a container VM adds to a VM: the kit's kernel and initrd, and the two 9p shares.</summary>
internal sealed record ContainerVmParts(QemuKernelBoot Boot, IReadOnlyList<QemuShare> Shares);

/// <summary>
/// The host side of a container isolated in a VM (<see cref="ContainerVmContract"/>): the container's root is the same
/// overlay of the image with the app's writable directory on top that runc would use, shared with the guest; the
/// process is resolved by Docker's rules exactly as for runc and written to the launch file the guest's init runs.
/// </summary>
internal static class ContainerVm
{
    // Kernel noise stays out of the app's logs (quiet); a panic reboots at once, which -no-reboot turns into QEMU's exit.
    private const string KernelCommandLine = "console=ttyS0 quiet panic=-1";

    /// <exception cref="WorkloadRuntimeException">This device has no container VM kit.</exception>
    /// <exception cref="WorkloadSpecException">The process cannot run (no command, a relative working directory, a non-root user).</exception>
    /// <param name="kernelArgs">EVE's extraargs, appended to the kit's command line.</param>
    public static ContainerVmParts Prepare(WorkloadSpec spec, string vmDirectory, string kitDirectory, string? kernelArgs = null)
    {
        var kernel = Path.Combine(kitDirectory, ContainerVmContract.KernelFile);
        var initrd = Path.Combine(kitDirectory, ContainerVmContract.InitrdFile);
        if (!File.Exists(kernel) || !File.Exists(initrd))
        {
            throw new WorkloadRuntimeException(
                $"App {spec.DisplayName} runs its container in a VM, but this device has no container VM kit in {kitDirectory}: "
                + $"build one with `outpost image container-vm-kit --out {kitDirectory}`, or start the agent with --container-vm-kit DIR.");
        }

        if (spec.Mounts.Count > 0)
        {
            throw new WorkloadSpecException($"App {spec.DisplayName} runs its container in a VM, which cannot mount other volumes yet; drop its extra volumes or run it as a plain container.");
        }

        var rootfs = RootfsBuilder.Prepare(spec.LowerDirectories, spec.WritableDirectory, RootMountPoint(vmDirectory), allowOverlay: true);
        var hostname = spec.Hostname ?? spec.DisplayName;
        var process = ContainerProcessResolver.Resolve(spec.Process, rootfs.Path, hostname);
        if (process.Uid != 0 || process.Gid != 0)
        {
            // The guest's busybox cannot drop to a numeric user; the VM, not the user, is the isolation boundary here.
            throw new WorkloadSpecException(
                $"App {spec.DisplayName} would run as user {process.Uid}:{process.Gid}, but a container in a VM runs as root for now; "
                + "override the user to root (0) or run it as a plain container.");
        }

        var launch = LaunchDirectory(vmDirectory);
        Directory.CreateDirectory(launch);
        Persistence.AtomicFile.Write(Path.Combine(launch, ContainerVmContract.LaunchFile), Encoding.UTF8.GetBytes(LaunchScript(process, hostname)));
        return new ContainerVmParts(
            new QemuKernelBoot(kernel, initrd, kernelArgs is { Length: > 0 } extra ? $"{KernelCommandLine} {extra}" : KernelCommandLine),
            [new QemuShare(ContainerVmContract.RootTag, Path.GetFullPath(rootfs.Path)), new QemuShare(ContainerVmContract.LaunchTag, Path.GetFullPath(launch))]);
    }

    /// <summary>Mounts the container's root again when a host reboot took the overlay away (a no-op while it is mounted).</summary>
    public static void Remount(IReadOnlyList<string> lowerDirectories, string writableDirectory, string vmDirectory)
    {
        RootfsBuilder.Prepare(lowerDirectories, writableDirectory, RootMountPoint(vmDirectory), allowOverlay: true);
        File.Delete(Path.Combine(LaunchDirectory(vmDirectory), ContainerVmContract.ExitCodeFile));
    }

    public static void Unmount(string vmDirectory) => RootfsBuilder.Unmount(RootMountPoint(vmDirectory));

    /// <summary>The exit code the guest's init wrote when the process ended; null when it never got that far.</summary>
    public static int? ReadExitCode(string vmDirectory)
    {
        var path = Path.Combine(LaunchDirectory(vmDirectory), ContainerVmContract.ExitCodeFile);
        return File.Exists(path) && int.TryParse(File.ReadAllText(path).Trim(), CultureInfo.InvariantCulture, out var code) ? code : null;
    }

    /// <summary>Writes one command line to the guest's control port; best effort (a guest still booting misses it, and the stop falls back to quit).</summary>
    public static async Task SendAsync(string controlSocket, string command, CancellationToken cancellationToken)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(5));
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(controlSocket), timeout.Token).ConfigureAwait(false);
            await socket.SendAsync(Encoding.ASCII.GetBytes(command + "\n"), SocketFlags.None, timeout.Token).ConfigureAwait(false);
            // Held open a moment: the guest reads while the host end is connected; a close right away can beat the read.
            await Task.Delay(TimeSpan.FromMilliseconds(500), timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
        }
    }

    /// <summary>
    /// The launch file (see <see cref="ContainerVmContract.LaunchFile"/>): every value single-quoted, a quote inside a
    /// value closed, escaped and reopened, so the shell never interprets the app's environment or arguments.
    /// </summary>
    public static string LaunchScript(ContainerProcess process, string hostname)
    {
        var text = new StringBuilder();
        text.Append("OUTPOST_HOSTNAME=").Append(Quote(hostname)).Append('\n');
        text.Append("OUTPOST_WORKDIR=").Append(Quote(process.WorkingDirectory)).Append('\n');
        text.Append("set --");
        foreach (var word in process.Env.Concat(process.Args))
        {
            text.Append(' ').Append(Quote(word));
        }

        return text.Append('\n').ToString();
    }

    private static string Quote(string value) => "'" + value.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    private static string RootMountPoint(string vmDirectory) => Path.Combine(vmDirectory, "root");

    private static string LaunchDirectory(string vmDirectory) => Path.Combine(vmDirectory, "launch");
}
