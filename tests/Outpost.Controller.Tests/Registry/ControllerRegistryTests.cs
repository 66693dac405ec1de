using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Outpost.Oci.Content;
using Outpost.Oci.Errors;
using Outpost.Oci.Layout;
using Outpost.Oci.References;
using Outpost.Oci.Registry;
using Outpost.Oci.Transfer;

namespace Outpost.Controller.Tests.Registry;

/// <summary>The controller's registry as devices pull from it (pushes: <see cref="RegistryPushTests"/>), checked with skopeo (an independent client), our RegistryClient and raw HTTP.</summary>
public sealed class ControllerRegistryTests(ControllerRegistryFixture fixture) : IClassFixture<ControllerRegistryFixture>
{
    private string Host => fixture.Host.ServerAddress;

    [Fact]
    public async Task Base_endpoint_answers_200_with_the_api_version_header()
    {
        foreach (var method in new[] { HttpMethod.Get, HttpMethod.Head })
        {
            using var response = await fixture.Http.SendAsync(new HttpRequestMessage(method, "/v2/"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("registry/2.0", response.Headers.GetValues("Docker-Distribution-API-Version").Single());
        }
    }

    [Fact]
    public async Task Skopeo_inspect_trusts_the_controller_root_and_sees_the_manifest_digest()
    {
        var json = await RegistryToolRunner.SkopeoAsync("inspect", "--cert-dir", fixture.CertDirectory, "--tls-verify=true", $"docker://{Host}/outpost/hello:1");
        var info = JsonDocument.Parse(json).RootElement;
        Assert.Equal(fixture.Hello.Digest.ToString(), info.GetProperty("Digest").GetString());
        Assert.Equal("amd64", info.GetProperty("Architecture").GetString());
        Assert.Equal("1", Assert.Single(info.GetProperty("RepoTags").EnumerateArray()).GetString());
    }

    [Fact]
    public async Task Skopeo_copy_to_an_oci_directory_yields_the_same_manifest_and_blobs()
    {
        var target = Path.Combine(fixture.DataDirectory, "skopeo-copy-" + Guid.NewGuid().ToString("N"));
        await RegistryToolRunner.SkopeoAsync("copy", "--src-cert-dir", fixture.CertDirectory, $"docker://{Host}/outpost/hello:1", $"oci:{target}:copied");

        var copied = await OciLayout.Open(target).ResolveAsync("copied");
        var original = await OciLayout.Open(fixture.LayoutPath).ResolveAsync("outpost/hello:1");
        Assert.Equal(original.ManifestDescriptor.Digest, copied.ManifestDescriptor.Digest);
        foreach (var layer in original.Layers)
        {
            Assert.Equal(await File.ReadAllBytesAsync(OciLayout.Open(fixture.LayoutPath).GetBlobPath(layer.Digest)),
                await File.ReadAllBytesAsync(OciLayout.Open(target).GetBlobPath(layer.Digest)));
        }
    }

    [Fact]
    public async Task Our_registry_client_pulls_the_image_through_the_controller_over_https()
    {
        using var http = new HttpClient(new HttpsForLoopbackHandler(TrustingHandler(fixture.Host.Pki.Root)));
        using var client = new RegistryClient(new RegistryClientOptions { MaxRetries = 1 }, http);
        var target = await OciLayout.CreateAsync(Path.Combine(fixture.DataDirectory, "pulled-" + Guid.NewGuid().ToString("N")));

        var pulled = await new ImagePuller(client).PullAsync(ImageReference.Parse($"{Host}/outpost/hello:1"), target);

        Assert.Equal(fixture.Hello.Digest, pulled.ManifestDescriptor.Digest);
        Assert.All(pulled.Layers, layer => Assert.True(target.HasBlob(layer.Digest), $"layer {layer.Digest} was not stored"));
    }

    [Fact]
    public async Task Head_manifest_gives_media_type_digest_and_length_without_a_body()
    {
        using var response = await fixture.Http.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/v2/outpost/hello/manifests/1"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(MediaTypes.OciManifest, response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(fixture.Hello.Digest.ToString(), response.Headers.GetValues("Docker-Content-Digest").Single());
        Assert.Equal(fixture.Hello.Size, response.Content.Headers.ContentLength);
        Assert.Empty(await response.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task Manifest_by_digest_returns_the_exact_stored_bytes()
    {
        var bytes = await fixture.Http.GetByteArrayAsync($"/v2/outpost/hello/manifests/{fixture.Hello.Digest}");
        Assert.Equal(fixture.Hello.Digest, OciDigest.Compute(bytes));
    }

    [Fact]
    public async Task Blob_range_request_returns_206_with_the_remaining_bytes()
    {
        var layer = (await OciLayout.Open(fixture.LayoutPath).ResolveAsync("outpost/hello:1")).Layers[0];
        var whole = await File.ReadAllBytesAsync(OciLayout.Open(fixture.LayoutPath).GetBlobPath(layer.Digest));
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/v2/outpost/hello/blobs/{layer.Digest}");
        request.Headers.Range = new RangeHeaderValue(1000, null);

        using var response = await fixture.Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
        Assert.Equal(whole[1000..], await response.Content.ReadAsByteArrayAsync());
        Assert.Equal(layer.Digest.ToString(), response.Headers.GetValues("Docker-Content-Digest").Single());
    }

    [Fact]
    public async Task Tags_list_names_the_repository_and_its_tags()
    {
        var json = JsonDocument.Parse(await fixture.Http.GetStringAsync("/v2/outpost/hello/tags/list")).RootElement;
        Assert.Equal("outpost/hello", json.GetProperty("name").GetString());
        Assert.Equal("1", Assert.Single(json.GetProperty("tags").EnumerateArray()).GetString());
    }

    [Theory]
    [InlineData("/v2/nothing/here/manifests/1", "NAME_UNKNOWN")]
    [InlineData("/v2/outpost/hello/manifests/2", "MANIFEST_UNKNOWN")]
    [InlineData("/v2/outpost/hello/blobs/sha256:0000000000000000000000000000000000000000000000000000000000000000", "BLOB_UNKNOWN")]
    public async Task Unknown_things_are_404_with_the_registry_error_format(string path, string code)
    {
        using var response = await fixture.Http.GetAsync(path);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("errors")[0];
        Assert.Equal(code, error.GetProperty("code").GetString());
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("message").GetString()));
    }

    [Fact]
    public async Task Skopeo_sees_an_unknown_repository_as_missing()
    {
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            RegistryToolRunner.SkopeoAsync("inspect", "--cert-dir", fixture.CertDirectory, $"docker://{Host}/does/not-exist:1"));
        Assert.Contains("unknown", error.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task A_blob_of_another_repository_is_not_served_under_this_name()
    {
        var otherLayer = (await OciLayout.Open(fixture.LayoutPath).ResolveAsync("other/repo:2")).Layers[0];
        using var response = await fixture.Http.GetAsync($"/v2/outpost/hello/blobs/{otherLayer.Digest}");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Theory]
    [InlineData("/v2/..%2F..%2Fpki/manifests/1")]
    [InlineData("/v2/%2E%2E/%2E%2E/pki/blobs/sha256:0000000000000000000000000000000000000000000000000000000000000000")]
    [InlineData("/v2/outpost/hello/manifests/..%2F..%2Fadmin.token")]
    [InlineData("/v2/outpost/hello/blobs/sha256:..%2F..%2F..%2Fadmin.token")]
    [InlineData("/v2/outpost/hello/blobs/..%2F..%2Fadmin.token")]
    [InlineData("/v2/OUTPOST/hello/manifests/1")]
    public async Task Traversal_and_malformed_names_are_refused_without_touching_files(string rawPath)
    {
        var token = (await File.ReadAllTextAsync(fixture.Host.AdminTokenPath)).Trim();
        var uri = new Uri(fixture.Host.BaseAddress + rawPath.TrimStart('/'), new UriCreationOptions { DangerousDisablePathAndQueryCanonicalization = true });

        using var response = await fixture.Http.GetAsync(uri);

        Assert.True(response.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.NotFound, $"{rawPath} answered {(int)response.StatusCode}");
        Assert.DoesNotContain(token, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Registry_reads_need_no_admin_token()
    {
        // fixture.Http carries no Authorization header at all.
        Assert.Null(fixture.Http.DefaultRequestHeaders.Authorization);
        using var response = await fixture.Http.GetAsync("/v2/outpost/hello/manifests/1");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    private static SocketsHttpHandler TrustingHandler(X509Certificate2 root)
    {
        var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = Outpost.Api.Certificates.PrivateRootTrust.Callback(root);
        return handler;
    }
}
