namespace Outpost.Api.ContainerVm;

/// <summary>
/// What the agent and the guest init of a container VM (an OCI app isolated in its own small VM, EVE's default for
/// containers on KVM) agree on. The image builder writes the init (`outpost image container-vm-kit`), the agent's QEMU
/// driver starts the VM: QEMU boots the kit's kernel and initrd directly and shares two host directories over 9p; the
/// init mounts them, runs the container's process from <see cref="LaunchFile"/> on the serial console, writes its exit
/// code to <see cref="ExitCodeFile"/> and powers the VM off.
/// </summary>
public static class ContainerVmContract
{
    /// <summary>9p mount tag of the container's root filesystem (the app's writable copy of the image).</summary>
    public const string RootTag = "outpost-root";

    /// <summary>9p mount tag of the per-VM launch directory the agent writes and the init reads (and writes the exit code to).</summary>
    public const string LaunchTag = "outpost-launch";

    /// <summary>
    /// A busybox sh fragment in the launch directory, sourced by the init: it sets OUTPOST_HOSTNAME and OUTPOST_WORKDIR
    /// and the positional parameters to the environment (NAME=value words), then "--", then the process's arguments.
    /// Every value is single-quoted, so nothing in the app's config is ever interpreted by the shell.
    /// </summary>
    public const string LaunchFile = "launch.sh";

    /// <summary>The container process's exit code (decimal, 128+N after signal N), written just before power-off.</summary>
    public const string ExitCodeFile = "exit-code";

    /// <summary>Name of the virtio-serial port the agent writes commands to: "stop" (SIGTERM to the process), "kill" (SIGKILL).</summary>
    public const string ControlPort = "org.outpost.control";

    /// <summary>Where the init bind-mounts its own busybox inside the container's root (read-only), to enter the working directory.</summary>
    public const string HelperDirectory = ".outpost";

    /// <summary>The kit's file names inside its directory.</summary>
    public const string KernelFile = "vmlinuz";

    public const string InitrdFile = "initrd.img";

    /// <summary>Where an Outpost OS image carries the kit, and where the agent looks when given no other directory.</summary>
    public const string DefaultKitDirectory = "/usr/lib/outpost/container-vm";
}
