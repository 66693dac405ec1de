using Outpost.Oci.Errors;
using Outpost.Oci.References;

namespace Outpost.Oci.Tests.References;

public sealed class ImageReferenceTests
{
    private const string Hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    [Theory]
    [InlineData("busybox", "docker.io", "library/busybox", "latest", "docker.io/library/busybox:latest")]
    [InlineData("user/x", "docker.io", "user/x", "latest", "docker.io/user/x:latest")]
    [InlineData("docker.io/busybox:1.36", "docker.io", "library/busybox", "1.36", "docker.io/library/busybox:1.36")]
    [InlineData("index.docker.io/user/x:v1", "docker.io", "user/x", "v1", "docker.io/user/x:v1")]
    [InlineData("localhost:5000/x", "localhost:5000", "x", "latest", "localhost:5000/x:latest")]
    [InlineData("localhost/x", "localhost", "x", "latest", "localhost/x:latest")]
    [InlineData("127.0.0.1:5000/a/b:tag", "127.0.0.1:5000", "a/b", "tag", "127.0.0.1:5000/a/b:tag")]
    [InlineData("ghcr.io/org/team/app:v1.2.3-rc_1", "ghcr.io", "org/team/app", "v1.2.3-rc_1", "ghcr.io/org/team/app:v1.2.3-rc_1")]
    [InlineData("quay.io/my-org/my__app", "quay.io", "my-org/my__app", "latest", "quay.io/my-org/my__app:latest")]
    public void Parse_normalizes_like_docker(string input, string registry, string repository, string tag, string canonical)
    {
        var reference = ImageReference.Parse(input);
        Assert.Equal(registry, reference.Registry);
        Assert.Equal(repository, reference.Repository);
        Assert.Equal(tag, reference.Tag);
        Assert.Null(reference.Digest);
        Assert.Equal(canonical, reference.ToString());
        Assert.Equal(tag, reference.ManifestReference);
    }

    [Fact]
    public void Digest_only_reference_has_no_tag_and_pulls_by_digest()
    {
        var reference = ImageReference.Parse($"alpine@sha256:{Hex}");
        Assert.Null(reference.Tag);
        Assert.Equal($"sha256:{Hex}", reference.Digest.ToString());
        Assert.Equal($"sha256:{Hex}", reference.ManifestReference);
        Assert.Equal($"docker.io/library/alpine@sha256:{Hex}", reference.ToString());
    }

    [Fact]
    public void Tag_and_digest_keep_both_and_digest_wins_for_pulls()
    {
        var reference = ImageReference.Parse($"127.0.0.1:5000/a/b:v1@sha256:{Hex}");
        Assert.Equal("v1", reference.Tag);
        Assert.Equal($"sha256:{Hex}", reference.ManifestReference);
        Assert.Equal($"127.0.0.1:5000/a/b:v1@sha256:{Hex}", reference.ToString());
    }

    [Fact]
    public void Canonical_form_parses_back_to_an_equal_reference()
    {
        var reference = ImageReference.Parse($"user/x:v2@sha256:{Hex}");
        Assert.Equal(reference, ImageReference.Parse(reference.ToString()));
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("Busybox", "lowercase")]
    [InlineData("docker.io/User/x", "lowercase")]
    [InlineData("busybox:", "tag")]
    [InlineData("busybox:-bad", "tag")]
    [InlineData("busybox@sha256:abc", "digest")]
    [InlineData("busybox@md5:0123456789abcdef0123456789abcdef", "digest")]
    [InlineData("a//b", "path component")]
    [InlineData("a/b_-c", "path component")]
    [InlineData(" busybox", "whitespace")]
    [InlineData("localhost:5000/", "repository name is missing")]
    public void Invalid_reference_throws_typed_exception_explaining_why(string input, string reasonFragment)
    {
        var error = Assert.Throws<InvalidImageReferenceException>(() => ImageReference.Parse(input));
        Assert.Contains(reasonFragment, error.Message);
        Assert.Contains($"'{input}'", error.Message);
    }

    [Fact]
    public void Overlong_name_is_rejected()
    {
        var error = Assert.Throws<InvalidImageReferenceException>(() => ImageReference.Parse("example.com/" + new string('a', 300)));
        Assert.Contains("longer than 255", error.Message);
    }
}
