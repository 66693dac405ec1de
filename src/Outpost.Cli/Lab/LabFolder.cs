using Outpost.Cli.Admin;
using Outpost.Cli.Commands;

namespace Outpost.Cli.Lab;

/// <summary>
/// The lab's folder (./outpost-lab by default): the controller's data under <c>controller/</c>, the image built for it
/// under <c>image/</c>, one folder per device under <c>devices/NAME/</c>, and the OS signing key pair.
/// </summary>
internal sealed class LabFolder(string root)
{
    /// <summary>Relative to the working folder; admin commands look for the lab's controller there (see <see cref="ControllerLocation.FolderDefault"/>).</summary>
    public static readonly string DefaultPath = Path.GetDirectoryName(ControllerLocation.LabControllerDirectory)!;

    public string Root { get; } = Path.GetFullPath(root);

    public string ControllerDirectory => Path.Combine(Root, "controller");

    public string ControllerLog => Path.Combine(ControllerDirectory, "controller.log");

    public string ControllerPidFile => Path.Combine(ControllerDirectory, "controller.pid");

    public string ImageDirectory => Path.Combine(Root, "image");

    public string DevicesDirectory => Path.Combine(Root, "devices");

    /// <summary>The lab's OS signing key (0600), made once: `outpost os push DIR --version V --sign-key` signs with it.</summary>
    public string SigningKey => Path.Combine(Root, "os-signing.key");

    /// <summary>Its public key, which every lab device gets on CONFIG as os-signing.pem.</summary>
    public string SigningPublicKey => Outpost.Image.OsImages.OsSigningKeys.PublicKeyPathFor(SigningKey);

    /// <exception cref="CliException">The name could not be a folder, a VM name and a serial number at once.</exception>
    public LabDevicePaths Device(string name)
    {
        if (!IsValidName(name))
        {
            throw new CliException($"Device name '{name}' must be 1-40 letters, digits, '.', '_' or '-', starting with a letter or digit (it is also the device's serial), e.g. dev1.");
        }

        return new LabDevicePaths(name, Path.Combine(DevicesDirectory, name));
    }

    /// <summary>Devices that have a folder, by name.</summary>
    public IReadOnlyList<LabDevicePaths> Devices() =>
        Directory.Exists(DevicesDirectory)
            ? Directory.GetDirectories(DevicesDirectory).Select(path => Path.GetFileName(path)).Where(IsValidName).Order(StringComparer.Ordinal)
                .Select(Device).ToList()
            : [];

    private static bool IsValidName(string name) =>
        name.Length is > 0 and <= 40 && char.IsAsciiLetterOrDigit(name[0]) && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');
}

/// <summary>One lab device's files: what it is made of (disk, firmware variables, config folder) and what runs it.</summary>
internal sealed record LabDevicePaths(string Name, string Directory)
{
    public string Disk => Path.Combine(Directory, "disk.raw");

    public string OvmfVars => Path.Combine(Directory, "OVMF_VARS.fd");

    public string ConfigDirectory => Path.Combine(Directory, "config");

    public string SerialLog => Path.Combine(Directory, "serial.log");

    public string QmpSocket => Path.Combine(Directory, "qmp.sock");

    public string PidFile => Path.Combine(Directory, "qemu.pid");

    /// <summary>What `lab list` shows and `lab up` compares (see <see cref="LabDeviceRecord"/>).</summary>
    public string RecordFile => Path.Combine(Directory, "lab-device.json");

    public bool Exists => System.IO.Directory.Exists(Directory);
}
