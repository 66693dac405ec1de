using System.Security.Cryptography;
using System.Text;
using Outpost.Disk.Slots;

namespace Outpost.PowerCut;

/// <summary>One OS version as the harness knows it: the rootfs bytes (and their SHA-256), kernel and initramfs.</summary>
public sealed class OsImage
{
    public OsImage(string version, byte[] rootfs, byte[] kernel, byte[] initrd)
    {
        Version = version;
        Rootfs = rootfs;
        Kernel = kernel;
        Initrd = initrd;
        RootfsSha256 = SHA256.HashData(rootfs);
    }

    public string Version { get; }
    public byte[] Rootfs { get; }
    public byte[] RootfsSha256 { get; }
    public byte[] Kernel { get; }
    public byte[] Initrd { get; }

    public BootPayload Payload => new(Kernel, Initrd);

    public SlotImage ToSlotImage(string cmdline) => new(Version, () => new MemoryStream(Rootfs, writable: false), Payload, cmdline);

    /// <summary>
    /// True when the first <c>Rootfs.Length</c> bytes of <paramref name="partition"/> are this image's rootfs: what a
    /// SHA-256 of them against <see cref="RootfsSha256"/> says, compared byte for byte because it is several times faster.
    /// </summary>
    public bool RootfsMatches(ReadOnlySpan<byte> partition) =>
        partition.Length >= Rootfs.Length && partition[..Rootfs.Length].SequenceEqual(Rootfs);

    public bool PayloadMatches(BootPayload? payload) =>
        payload is not null && payload.Kernel.AsSpan().SequenceEqual(Kernel) && payload.Initrd.AsSpan().SequenceEqual(Initrd);

    public override string ToString() => Version;
}

/// <summary>The two versions of the scenario (v1 installed, v2 the update) and the filler for a never-used slot.</summary>
public static class OsImages
{
    public const string Cmdline = "console=ttyS0 rootwait ro";

    /// <summary>Rootfs sizes: different on purpose, so "the first N bytes" really depends on the version; both well under the 8 MiB slot.</summary>
    public const int V1RootfsBytes = 5 * 1024 * 1024;
    public const int V2RootfsBytes = 5 * 1024 * 1024 + 384 * 1024 + 123;

    public static OsImage V1 { get; } = Make("1.0", V1RootfsBytes, 101);

    public static OsImage V2 { get; } = Make("2.0", V2RootfsBytes, 202);

    public static IReadOnlyList<OsImage> All { get; } = [V1, V2];

    /// <summary>Deterministic pseudo-random bytes.</summary>
    public static byte[] Noise(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static OsImage Make(string version, int rootfsBytes, int seed)
    {
        var rootfs = Noise(rootfsBytes, seed);
        // A recognisable squashfs-like head so a hexdump tells the versions apart.
        Encoding.ASCII.GetBytes($"hsqs outpost rootfs {version}").CopyTo(rootfs, 0);
        return new OsImage(version, rootfs, Tagged($"KERNEL outpost {version}\n", 96 * 1024 + 17, seed + 1), Tagged($"INITRD outpost {version}\n", 160 * 1024 + 5, seed + 2));
    }

    private static byte[] Tagged(string tag, int length, int seed)
    {
        var bytes = Noise(length, seed);
        Encoding.ASCII.GetBytes(tag).CopyTo(bytes, 0);
        return bytes;
    }
}
