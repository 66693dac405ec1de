using System.Formats.Tar;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Outpost.Api.OsImages;
using Outpost.Image.Build;
using Outpost.Image.OsImages;
using Outpost.Image.Tests.Support;
using Outpost.Oci.Content;

namespace Outpost.Image.Tests.OsImages;

public sealed class OsImageFolderTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    /// <summary>What `outpost image build --out` leaves that an OS update needs: the payload files and rootfs.tar's release file.</summary>
    private async Task<string> FolderAsync(string name, string? releaseVersion = "0.2.0")
    {
        var folder = _temp.Combine(name);
        Directory.CreateDirectory(Path.Combine(folder, "boot"));
        await File.WriteAllBytesAsync(Path.Combine(folder, OsImageArtifact.RootfsFile), RandomNumberGenerator.GetBytes(300_000));
        await File.WriteAllBytesAsync(Path.Combine(folder, OsImageArtifact.KernelFile), RandomNumberGenerator.GetBytes(20_000));
        await File.WriteAllBytesAsync(Path.Combine(folder, OsImageArtifact.InitrdFile), RandomNumberGenerator.GetBytes(10_000));
        if (releaseVersion is not null)
        {
            await using var tar = File.Create(Path.Combine(folder, ImageBuilder.RootfsTar));
            await using var writer = new TarWriter(tar, TarEntryFormat.Pax);
            await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.Directory, "etc/"));
            await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.RegularFile, "etc/outpost-release")
            {
                DataStream = new MemoryStream(Encoding.UTF8.GetBytes($"NAME=Outpost\nVERSION={releaseVersion}\nARCH=amd64\nHV=kvm\nPLATFORM=generic\n")),
            });
        }

        return folder;
    }

    private static string Hash(string path) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));

    [Fact]
    public async Task Signing_takes_the_version_from_rootfs_tar_and_the_device_side_verifies_the_files()
    {
        var folder = await FolderAsync("v2");
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);

        var statement = await OsImageFolder.SignAsync(folder, key, version: null, CancellationToken.None);

        Assert.Equal("0.2.0", statement.Version);
        Assert.Equal(Hash(Path.Combine(folder, OsImageArtifact.RootfsFile)), statement.RootfsSha256);
        Assert.Equal(Hash(Path.Combine(folder, OsImageArtifact.KernelFile)), statement.KernelSha256);
        Assert.Equal(Hash(Path.Combine(folder, OsImageArtifact.InitrdFile)), statement.InitrdSha256);
        var file = OsImageSigner.Parse(await File.ReadAllBytesAsync(Path.Combine(folder, OsImageArtifact.SignatureFile)));
        OsImageSigner.Verify(file, await OsImageFolder.DescribeAsync(folder, "0.2.0", CancellationToken.None),
            OsImageSigner.LoadTrustedKeys(key.ExportSubjectPublicKeyInfoPem()));
    }

    [Fact]
    public async Task Signing_as_another_version_than_the_build_records_is_refused()
    {
        var folder = await FolderAsync("v2");
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);

        var error = await Assert.ThrowsAsync<OsImageFolderException>(() => OsImageFolder.SignAsync(folder, key, "0.3.0", CancellationToken.None));

        Assert.Contains("0.2.0", error.Message);
        Assert.False(File.Exists(Path.Combine(folder, OsImageArtifact.SignatureFile)));
    }

    [Fact]
    public async Task Without_rootfs_tar_the_version_must_be_given()
    {
        var folder = await FolderAsync("bare", releaseVersion: null);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);

        var error = await Assert.ThrowsAsync<OsImageFolderException>(() => OsImageFolder.SignAsync(folder, key, null, CancellationToken.None));
        Assert.Contains("--version", error.Message);

        Assert.Equal("0.4.0", (await OsImageFolder.SignAsync(folder, key, "0.4.0", CancellationToken.None)).Version);
    }

    [Fact]
    public async Task A_folder_without_the_boot_files_is_refused_with_what_to_build()
    {
        var folder = await FolderAsync("nokernel");
        File.Delete(Path.Combine(folder, OsImageArtifact.KernelFile));
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);

        var error = await Assert.ThrowsAsync<OsImageFolderException>(() => OsImageFolder.SignAsync(folder, key, null, CancellationToken.None));
        Assert.Contains(OsImageArtifact.KernelFile, error.Message);
    }

    [Fact]
    public async Task An_unsigned_folder_cannot_be_pushed_and_the_message_says_to_sign_it()
    {
        var folder = await FolderAsync("unsigned");

        var error = await Assert.ThrowsAsync<OsImageFolderException>(() => OsImagePublisher.DescribeAsync(folder, "0.2.0", CancellationToken.None));
        Assert.Contains("outpost image sign", error.Message);
    }

    [Fact]
    public async Task A_folder_signed_for_another_version_cannot_be_pushed_as_this_one()
    {
        var folder = await FolderAsync("v2");
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        await OsImageFolder.SignAsync(folder, key, null, CancellationToken.None);

        var error = await Assert.ThrowsAsync<OsImageFolderException>(() => OsImagePublisher.DescribeAsync(folder, "0.9.0", CancellationToken.None));
        Assert.Contains("signed as version 0.2.0", error.Message);
    }

    [Fact]
    public async Task A_file_changed_after_signing_is_noticed_before_anything_is_pushed()
    {
        var folder = await FolderAsync("v2");
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        await OsImageFolder.SignAsync(folder, key, null, CancellationToken.None);
        await File.AppendAllTextAsync(Path.Combine(folder, OsImageArtifact.InitrdFile), "x");

        var error = await Assert.ThrowsAsync<OsImageFolderException>(() => OsImagePublisher.DescribeAsync(folder, "0.2.0", CancellationToken.None));
        Assert.Contains("changed after it was signed", error.Message);
    }

    [Fact]
    public async Task The_artifact_is_an_oci_image_manifest_with_the_four_layers_in_order_and_the_version_label()
    {
        var folder = await FolderAsync("v2");
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        await OsImageFolder.SignAsync(folder, key, null, CancellationToken.None);

        var artifact = await OsImagePublisher.DescribeAsync(folder, "0.2.0", CancellationToken.None);

        var manifest = OciJson.Deserialize<ImageManifest>(artifact.Manifest, "manifest");
        Assert.Equal(MediaTypes.OciManifest, manifest.MediaType);
        Assert.Equal(OciDigest.Compute(artifact.Manifest), artifact.Digest);
        Assert.Equal([OsImageArtifact.RootfsMediaType, OsImageArtifact.KernelMediaType, OsImageArtifact.InitrdMediaType, OsImageArtifact.SignatureMediaType],
            manifest.Layers.Select(l => l.MediaType));
        Assert.Equal("sha256:" + Hash(Path.Combine(folder, OsImageArtifact.RootfsFile)), manifest.Layers[0].Digest.ToString());
        Assert.Equal(new FileInfo(Path.Combine(folder, OsImageArtifact.RootfsFile)).Length, manifest.Layers[0].Size);
        Assert.Equal("sha256:" + Hash(Path.Combine(folder, OsImageArtifact.SignatureFile)), manifest.Layers[3].Digest.ToString());

        Assert.Equal(MediaTypes.OciConfig, manifest.Config.MediaType);
        var configBytes = artifact.Blobs.Single(b => b.Descriptor.Digest == manifest.Config.Digest).Content!;
        using var config = JsonDocument.Parse(configBytes);
        Assert.Equal("amd64", config.RootElement.GetProperty("architecture").GetString());
        Assert.Equal("linux", config.RootElement.GetProperty("os").GetString());
        Assert.Equal("layers", config.RootElement.GetProperty("rootfs").GetProperty("type").GetString());
        // Pullers check one diff_id per layer; the layers are stored uncompressed, so each is the layer's digest.
        Assert.Equal(manifest.Layers.Select(l => l.Digest.ToString()),
            config.RootElement.GetProperty("rootfs").GetProperty("diff_ids").EnumerateArray().Select(d => d.GetString()));
        Assert.Equal("0.2.0", config.RootElement.GetProperty("config").GetProperty("Labels").GetProperty(OsImageArtifact.VersionLabel).GetString());

        // The same folder gives the same artifact, so pushing it again changes nothing.
        Assert.Equal(artifact.Digest, (await OsImagePublisher.DescribeAsync(folder, "0.2.0", CancellationToken.None)).Digest);
    }

    [Theory]
    [InlineData("0.2.0+build")]
    [InlineData("")]
    [InlineData("../0.2.0")]
    [InlineData(".hidden")]
    public void A_version_that_cannot_be_a_registry_tag_is_refused(string version)
    {
        Assert.Throws<OsImageFolderException>(() => OsImageFolder.CheckVersion(version));
    }

    [Fact]
    public void Keygen_writes_a_private_key_only_its_owner_reads_and_the_public_key_beside_it()
    {
        var privateKey = _temp.Combine("keys", "os-signing.key");

        var publicKey = OsSigningKeys.Generate(privateKey);

        Assert.Equal(_temp.Combine("keys", "os-signing.pub.pem"), publicKey);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(privateKey));
        Assert.Contains("-----BEGIN PRIVATE KEY-----", File.ReadAllText(privateKey));
        using var loaded = OsSigningKeys.LoadPrivateKey(privateKey);
        var trusted = Assert.Single(OsImageSigner.LoadTrustedKeys(File.ReadAllText(publicKey)));
        Assert.Equal(loaded.ExportSubjectPublicKeyInfo(), trusted.ExportSubjectPublicKeyInfo());
        Assert.Throws<OsImageFolderException>(() => OsSigningKeys.Generate(privateKey));
    }

    [Theory]
    [InlineData("a/KEY.pem", "a/KEY.pub.pem")]
    [InlineData("a/KEY.key", "a/KEY.pub.pem")]
    [InlineData("a/KEY.key.pem", "a/KEY.pub.pem")]
    [InlineData("a/KEY", "a/KEY.pub.pem")]
    public void The_public_key_sits_beside_the_private_key(string privateKey, string publicKey)
    {
        Assert.Equal(publicKey, OsSigningKeys.PublicKeyPathFor(privateKey));
    }

    [Fact]
    public void Signing_with_the_public_key_or_another_curve_is_refused()
    {
        var privateKey = _temp.Combine("os.pem");
        var publicKey = OsSigningKeys.Generate(privateKey);
        Assert.Contains("private key", Assert.Throws<OsImageFolderException>(() => OsSigningKeys.LoadPrivateKey(publicKey)).Message);

        using var p384 = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        File.WriteAllText(_temp.Combine("p384.pem"), p384.ExportPkcs8PrivateKeyPem());
        Assert.Contains("P-256", Assert.Throws<OsImageFolderException>(() => OsSigningKeys.LoadPrivateKey(_temp.Combine("p384.pem"))).Message);
    }
}
