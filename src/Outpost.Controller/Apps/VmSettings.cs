namespace Outpost.Controller.Apps;

/// <summary>
/// A VM app's settings as the admin API takes them (null: the default) and shows them (every default filled in), so
/// what `GET` returns can be deployed again as it is.
/// </summary>
/// <param name="MemoryMiB">Guest RAM in MiB: 64 to 1 TiB; 512 when not given.</param>
/// <param name="Vcpus">Virtual CPUs: 1 to 64; 1 when not given.</param>
/// <param name="CpuSet">Host CPUs to run on as a Linux CPU list (e.g. "0-3,6"); any when not given.</param>
/// <param name="BootMode">bios (the default) or uefi.</param>
/// <param name="DiskFormat">What the image's disk is: qcow2 (the default), raw or iso (attached as a read-only CD-ROM).</param>
/// <param name="DiskSizeBytes">The app's writable disk size; 0 or not given: the image's own size.</param>
/// <param name="CloudInit">cloud-init user-data text, given to the guest on a NoCloud seed.</param>
/// <param name="EnableVnc">Whether the device offers the VM's screen over the controller's remote console.</param>
/// <param name="KernelArgs">Extra kernel command line, for a guest the device boots from a kernel directly.</param>
/// <param name="Usb">Host USB devices passed to the VM, each VENDOR:PRODUCT in hex (0403:6001) or BUS:PORT (1:2.3).</param>
/// <param name="Serial">Host serial ports passed to the VM, each a device path (/dev/ttyS1).</param>
/// <param name="Pci">Host PCI devices passed to the VM with VFIO, each an address (0000:03:00.0).</param>
/// <param name="Kernel">A kernel to boot directly (EVE's Kernel-target volume): the registry reference of a raw disk artifact holding it.</param>
/// <param name="Initrd">Its initrd, likewise (EVE's Initrd target); needs <paramref name="Kernel"/>.</param>
/// <param name="RemoteConsole">Whether operators may open its serial console through the controller (EVE's remoteConsole; `outpost app console`).</param>
public sealed record VmSettings(
    long? MemoryMiB = null,
    int? Vcpus = null,
    string? CpuSet = null,
    string? BootMode = null,
    string? DiskFormat = null,
    long? DiskSizeBytes = null,
    string? CloudInit = null,
    bool EnableVnc = false,
    string? KernelArgs = null,
    bool RemoteConsole = false,
    IReadOnlyList<string>? Usb = null,
    IReadOnlyList<string>? Serial = null,
    IReadOnlyList<string>? Pci = null,
    string? Kernel = null,
    string? Initrd = null);
