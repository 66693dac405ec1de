using System.Text;
using CsCheck;
using Outpost.Api.OsImages;

namespace Outpost.Api.Tests.OsImages;

/// <summary>SHA256SUMS comes from an update URL: untrusted. It parses what sha256sum writes and refuses the rest by name.</summary>
public sealed class OsImageChecksumsTests
{
    private static readonly Dictionary<string, string> Sums = OsImageChecksums.Files.ToDictionary(f => f, f => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(f))));

    [Fact]
    public void What_it_writes_it_reads_back_and_sha256sum_binary_mode_and_other_lines_are_accepted()
    {
        Assert.Equal(Sums, OsImageChecksums.Parse(Encoding.UTF8.GetBytes(OsImageChecksums.Format(Sums))));
        var text = "# made by hand\n" + string.Concat(OsImageChecksums.Files.Select(f => $"{Sums[f].ToUpperInvariant()} *{f}\r\n")) + $"{Sums[OsImageArtifact.RootfsFile]}  README\n";
        Assert.Equal(Sums, OsImageChecksums.Parse(Encoding.UTF8.GetBytes(text)));
    }

    [Theory]
    [InlineData("", "does not list")]
    [InlineData("abc  rootfs.img\n", "line 1 is not")]
    [InlineData("TWICE", "twice")]
    [InlineData("MISSING", "does not list boot/initrd.img")]
    public void A_malformed_file_is_refused_with_the_reason(string content, string reason)
    {
        var text = content switch
        {
            "TWICE" => OsImageChecksums.Format(Sums) + $"{Sums[OsImageArtifact.RootfsFile]}  {OsImageArtifact.RootfsFile}\n",
            "MISSING" => string.Join('\n', OsImageChecksums.Format(Sums).Split('\n').Where(l => !l.EndsWith(OsImageArtifact.InitrdFile, StringComparison.Ordinal))),
            _ => content,
        };
        var e = Assert.Throws<OsImageChecksumsException>(() => OsImageChecksums.Parse(Encoding.UTF8.GetBytes(text)));
        Assert.Contains(reason, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_file_larger_than_the_limit_is_refused_before_it_is_read()
    {
        var e = Assert.Throws<OsImageChecksumsException>(() => OsImageChecksums.Parse(new byte[OsImageChecksums.MaxBytes + 1]));
        Assert.Contains("bytes", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Any_bytes_either_parse_to_the_four_files_or_are_refused_with_a_checksums_error() =>
        Gen.OneOf(
                Gen.Byte.Array[0, 600],
                // Mutations of a valid file: flipped, cut or repeated bytes near the structure that matters.
                Gen.Int[0, 400].SelectMany(at => Gen.Byte.Select(b =>
                {
                    var valid = Encoding.UTF8.GetBytes(OsImageChecksums.Format(Sums));
                    valid[at % valid.Length] = b;
                    return valid;
                })))
            .Sample(bytes =>
            {
                try
                {
                    var parsed = OsImageChecksums.Parse(bytes);
                    Assert.Equal(OsImageChecksums.Files.Order(), parsed.Keys.Order());
                    Assert.All(parsed.Values, v => Assert.Matches("^[0-9a-f]{64}$", v));
                }
                catch (OsImageChecksumsException)
                {
                }
            }, iter: 20_000);
}
