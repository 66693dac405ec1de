namespace Outpost.Api.OsImages;

/// <summary>
/// How an Outpost OS image travels as an OCI artifact (in the controller's registry or any datastore): one image
/// manifest whose config is an ordinary OCI image config (architecture, os, label <see cref="VersionLabel"/>) and
/// whose layers are, in this order, the squashfs root filesystem, the kernel, the initramfs and the signature
/// statement. The files have the same names in an <c>outpost image build --out</c> folder.
/// </summary>
public static class OsImageArtifact
{
    public const string RootfsMediaType = "application/vnd.outpost.os.rootfs.v1.squashfs";
    public const string KernelMediaType = "application/vnd.outpost.os.kernel.v1";
    public const string InitrdMediaType = "application/vnd.outpost.os.initrd.v1";
    public const string SignatureMediaType = "application/vnd.outpost.os.signature.v1+json";

    /// <summary>Label in the image config that carries the OS version (the one in /etc/outpost-release).</summary>
    public const string VersionLabel = "io.outpost.os.version";

    /// <summary>Only architecture Outpost OS images are built for today (OCI's name for x86-64).</summary>
    public const string Architecture = "amd64";

    /// <summary>File names in a build output folder.</summary>
    public const string RootfsFile = "rootfs.img";
    public const string KernelFile = "boot/vmlinuz";
    public const string InitrdFile = "boot/initrd.img";
    public const string SignatureFile = "os-image.sig.json";

    /// <summary>Where a device's CONFIG partition keeps the public key it trusts for OS images (PEM SubjectPublicKeyInfo).</summary>
    public const string TrustedKeyFile = "os-signing.pem";

    /// <summary>The repository an OS image is pushed to in the controller's registry; the tag is the version.</summary>
    public const string Repository = "outpost/os";
}
