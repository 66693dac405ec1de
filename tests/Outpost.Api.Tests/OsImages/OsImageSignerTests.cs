using System.Security.Cryptography;
using System.Text;
using CsCheck;
using Outpost.Api.OsImages;

namespace Outpost.Api.Tests.OsImages;

public sealed class OsImageSignerTests
{
    private static readonly byte[] Rootfs = Encoding.UTF8.GetBytes("squashfs bytes of 0.2.0");
    private static readonly byte[] Kernel = Encoding.UTF8.GetBytes("kernel bytes");
    private static readonly byte[] Initrd = Encoding.UTF8.GetBytes("initramfs bytes");

    private static OsImageStatement StatementOf(string version, byte[] rootfs, byte[] kernel, byte[] initrd) =>
        new(version, OsImageArtifact.Architecture, Hex(rootfs), Hex(kernel), Hex(initrd));

    private static string Hex(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    private static IReadOnlyList<ECDsa> Trust(ECDsa key) => OsImageSigner.LoadTrustedKeys(key.ExportSubjectPublicKeyInfoPem());

    [Fact]
    public void A_signed_statement_parses_and_verifies_with_the_public_key_from_pem()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var statement = StatementOf("0.2.0", Rootfs, Kernel, Initrd);

        var file = OsImageSigner.Parse(OsImageSigner.Sign(statement, key));

        Assert.Equal(statement, file.Statement);
        OsImageSigner.Verify(file, StatementOf("0.2.0", Rootfs, Kernel, Initrd), Trust(key));
    }

    [Fact]
    public void The_signature_file_names_its_fields_as_the_contract_says()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var json = Encoding.UTF8.GetString(OsImageSigner.Sign(StatementOf("0.2.0", Rootfs, Kernel, Initrd), key));

        foreach (var field in new[] { "\"version\"", "\"architecture\"", "\"rootfs\"", "\"kernel\"", "\"initrd\"", "\"signature\"" })
            Assert.Contains(field, json);
        Assert.Contains(Hex(Rootfs), json);
    }

    [Fact]
    public void A_signature_made_with_another_key_is_refused()
    {
        using var signer = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var file = OsImageSigner.Parse(OsImageSigner.Sign(StatementOf("0.2.0", Rootfs, Kernel, Initrd), signer));

        var error = Assert.Throws<OsImageSignatureException>(() => OsImageSigner.Verify(file, StatementOf("0.2.0", Rootfs, Kernel, Initrd), Trust(other)));
        Assert.Contains("another key", error.Message);
    }

    [Fact]
    public void One_trusted_key_of_several_is_enough()
    {
        using var signer = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var file = OsImageSigner.Parse(OsImageSigner.Sign(StatementOf("0.2.0", Rootfs, Kernel, Initrd), signer));
        var keys = OsImageSigner.LoadTrustedKeys(other.ExportSubjectPublicKeyInfoPem() + signer.ExportSubjectPublicKeyInfoPem());

        Assert.Equal(2, keys.Count);
        OsImageSigner.Verify(file, StatementOf("0.2.0", Rootfs, Kernel, Initrd), keys);
    }

    [Fact]
    public void A_tampered_rootfs_is_refused_with_both_hashes_named()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var file = OsImageSigner.Parse(OsImageSigner.Sign(StatementOf("0.2.0", Rootfs, Kernel, Initrd), key));
        var tampered = (byte[])Rootfs.Clone();
        tampered[0] ^= 1;

        var error = Assert.Throws<OsImageSignatureException>(() => OsImageSigner.Verify(file, StatementOf("0.2.0", tampered, Kernel, Initrd), Trust(key)));
        Assert.Contains("other bytes", error.Message);
        Assert.Contains(Hex(Rootfs)[..12], error.Message);
        Assert.Contains(Hex(tampered)[..12], error.Message);
    }

    [Fact]
    public void A_statement_edited_after_signing_is_refused()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var json = Encoding.UTF8.GetString(OsImageSigner.Sign(StatementOf("0.2.0", Rootfs, Kernel, Initrd), key));
        var edited = OsImageSigner.Parse(Encoding.UTF8.GetBytes(json.Replace("\"0.2.0\"", "\"0.3.0\"")));

        Assert.Throws<OsImageSignatureException>(() => OsImageSigner.Verify(edited, StatementOf("0.3.0", Rootfs, Kernel, Initrd), Trust(key)));
    }

    [Fact]
    public void A_signed_image_of_another_version_is_refused()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var file = OsImageSigner.Parse(OsImageSigner.Sign(StatementOf("0.2.0", Rootfs, Kernel, Initrd), key));

        Assert.Throws<OsImageSignatureException>(() => OsImageSigner.Verify(file, StatementOf("0.3.0", Rootfs, Kernel, Initrd), Trust(key)));
    }

    [Fact]
    public void Without_a_trusted_key_nothing_verifies_and_the_message_says_where_the_key_goes()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var file = OsImageSigner.Parse(OsImageSigner.Sign(StatementOf("0.2.0", Rootfs, Kernel, Initrd), key));

        var error = Assert.Throws<OsImageSignatureException>(() => OsImageSigner.Verify(file, file.Statement, []));
        Assert.Contains(OsImageArtifact.TrustedKeyFile, error.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("{}")]
    [InlineData("[]")]
    [InlineData("null")]
    [InlineData("{\"version\":\"0.2.0\"}")]
    [InlineData("{\"version\":1,\"architecture\":\"amd64\",\"rootfs\":\"a\",\"kernel\":\"b\",\"initrd\":\"c\",\"signature\":\"d\"}")]
    public void A_malformed_signature_file_is_an_os_image_signature_exception(string json)
    {
        Assert.Throws<OsImageSignatureException>(() => OsImageSigner.Parse(Encoding.UTF8.GetBytes(json)));
    }

    [Fact]
    public void A_signature_that_is_not_base64_is_refused()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var file = OsImageSigner.Parse(OsImageSigner.Sign(StatementOf("0.2.0", Rootfs, Kernel, Initrd), key)) with { Signature = "not base64!" };

        Assert.Throws<OsImageSignatureException>(() => OsImageSigner.Verify(file, file.Statement, Trust(key)));
    }

    [Fact]
    public void A_signature_file_over_the_size_bound_is_refused_before_it_is_parsed()
    {
        var error = Assert.Throws<OsImageSignatureException>(() => OsImageSigner.Parse(new byte[OsImageSigner.MaxSignatureFileBytes + 1]));
        Assert.Contains($"{OsImageSigner.MaxSignatureFileBytes}", error.Message);
    }

    [Fact]
    public void Property_random_bytes_either_parse_or_throw_an_os_image_signature_exception()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var valid = OsImageSigner.Sign(StatementOf("0.2.0", Rootfs, Kernel, Initrd), key);
        // Raw bytes, and mutations of a valid file (flipped, cut, spliced), which reach deeper into the JSON reader.
        var inputs = Gen.OneOf(
            Gen.Byte.Array[0, 600],
            Gen.Select(Gen.Int[0, valid.Length - 1], Gen.Byte).Array[1, 8].Select(edits =>
            {
                var bytes = (byte[])valid.Clone();
                foreach (var (at, value) in edits)
                    bytes[at] = value;
                return bytes;
            }),
            Gen.Int[0, valid.Length].Select(length => valid[..length]),
            Gen.Select(Gen.Int[0, valid.Length], Gen.Byte.Array[0, 40]).Select(s => valid[..s.Item1].Concat(s.Item2).Concat(valid[s.Item1..]).ToArray()));

        inputs.Sample(bytes =>
        {
            try
            {
                var file = OsImageSigner.Parse(bytes);
                Assert.NotNull(file.Version);
                Assert.NotNull(file.Signature);
            }
            catch (OsImageSignatureException)
            {
            }
        }, iter: 20_000);
    }

    [Fact]
    public void A_pem_with_a_public_key_that_is_not_ecdsa_is_refused()
    {
        using var rsa = RSA.Create(2048);

        Assert.Throws<OsImageSignatureException>(() => OsImageSigner.LoadTrustedKeys(rsa.ExportSubjectPublicKeyInfoPem()));
    }
}
