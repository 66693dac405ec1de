using System.Security.Cryptography;
using System.Text;
using Outpost.Api.OsImages;
using Outpost.Disk.Slots;
using Outpost.Oci.Content;
using Outpost.Oci.References;
using Outpost.Oci.Registry;

namespace Outpost.Agent.Tests.BaseOs;

/// <summary>One OS version as a build folder holds it: rootfs, kernel and initramfs (deterministic noise with a readable head).</summary>
public sealed record OsBuild(string Version, byte[] Rootfs, byte[] Kernel, byte[] Initrd)
{
    public static OsBuild Make(string version, int rootfsBytes, int seed)
    {
        var rootfs = Noise(rootfsBytes, seed);
        Encoding.ASCII.GetBytes($"hsqs outpost rootfs {version}").CopyTo(rootfs, 0);
        return new OsBuild(version, rootfs, Tagged($"KERNEL outpost {version}\n", 48 * 1024 + 17, seed + 1), Tagged($"INITRD outpost {version}\n", 80 * 1024 + 5, seed + 2));
    }

    public SlotImage ToSlotImage(string cmdline) => new(Version, () => new MemoryStream(Rootfs, writable: false), new BootPayload(Kernel, Initrd), cmdline);

    public OsImageStatement Statement(string? architecture = null) => new(Version, architecture ?? OsImageArtifact.Architecture,
        Hex(Rootfs), Hex(Kernel), Hex(Initrd));

    public bool PayloadMatches(BootPayload? payload) =>
        payload is not null && payload.Kernel.AsSpan().SequenceEqual(Kernel) && payload.Initrd.AsSpan().SequenceEqual(Initrd);

    public static byte[] Noise(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static string Hex(byte[] data) => Convert.ToHexStringLower(SHA256.HashData(data));

    private static byte[] Tagged(string tag, int length, int seed)
    {
        var bytes = Noise(length, seed);
        Encoding.ASCII.GetBytes(tag).CopyTo(bytes, 0);
        return bytes;
    }
}

/// <summary>What is wrong with a pushed OS image, on purpose.</summary>
public enum OsImageFlaw
{
    None,
    /// <summary>No signature layer at all.</summary>
    Unsigned,
    /// <summary>Signed, but with a key the device does not trust.</summary>
    OtherKey,
    /// <summary>The signature is about the real kernel; the artifact carries another one.</summary>
    TamperedKernel,
    /// <summary>Built (and signed) for arm64.</summary>
    Arm64,
    /// <summary>The config's version label (and signature) say another version than the one pushed under.</summary>
    OtherVersionLabel,
}

/// <summary>An OS image in a registry: the repository:tag a content tree names, and its manifest digest (what the tree pins).</summary>
public sealed record PushedOsImage(string Url, OciDigest Digest);

/// <summary>
/// OS images as OCI artifacts (<see cref="OsImageArtifact"/>): one manifest, an image config (architecture, os,
/// label io.outpost.os.version) and four layers rootfs, kernel, initrd, signature, pushed with Outpost.Oci.
/// </summary>
public static class OsImages
{
    public static ECDsa NewKey() => ECDsa.Create(ECCurve.NamedCurves.nistP256);

    public static string PublicPem(ECDsa key) => key.ExportSubjectPublicKeyInfoPem();

    public static async Task<PushedOsImage> PushAsync(string registry, string tag, OsBuild build, ECDsa key, OsImageFlaw flaw = OsImageFlaw.None)
    {
        var architecture = flaw == OsImageFlaw.Arm64 ? "arm64" : OsImageArtifact.Architecture;
        var label = flaw == OsImageFlaw.OtherVersionLabel ? build.Version + "-other" : build.Version;
        var statement = build.Statement(architecture) with { Version = label };
        var kernel = build.Kernel;
        if (flaw == OsImageFlaw.TamperedKernel)
        {
            kernel = kernel.ToArray();
            kernel[^100] ^= 0x5A;
        }

        var layers = new List<(string MediaType, byte[] Content)>
        {
            (OsImageArtifact.RootfsMediaType, build.Rootfs),
            (OsImageArtifact.KernelMediaType, kernel),
            (OsImageArtifact.InitrdMediaType, build.Initrd),
        };
        if (flaw != OsImageFlaw.Unsigned)
        {
            using var other = flaw == OsImageFlaw.OtherKey ? NewKey() : null;
            layers.Add((OsImageArtifact.SignatureMediaType, OsImageSigner.Sign(statement, other ?? key)));
        }

        var descriptors = layers.Select(l => Descriptor.For(l.MediaType, l.Content)).ToList();
        var config = OciJson.Serialize(new ImageConfig
        {
            Architecture = architecture,
            Os = "linux",
            Config = new ContainerConfig { Labels = new Dictionary<string, string> { [OsImageArtifact.VersionLabel] = label } },
            // One diff id per layer: the agent's puller insists on the count (OsImagePublisher writes none; see the report).
            RootFs = new RootFs { Type = "layers", DiffIds = descriptors.Select(d => d.Digest).ToList() },
        });
        var configDescriptor = Descriptor.For(MediaTypes.OciConfig, config);
        var reference = ImageReference.Parse($"{registry}/{OsImageArtifact.Repository}:{tag}");
        using var client = new RegistryClient();
        await client.UploadBlobAsync(reference, configDescriptor, config);
        for (var i = 0; i < layers.Count; i++)
        {
            await client.UploadBlobAsync(reference, descriptors[i], layers[i].Content);
        }

        var manifest = OciJson.Serialize(new ImageManifest { MediaType = MediaTypes.OciManifest, Config = configDescriptor, Layers = descriptors });
        var digest = await client.PutManifestAsync(reference, MediaTypes.OciManifest, manifest);
        return new PushedOsImage($"{OsImageArtifact.Repository}:{tag}", digest);
    }
}
