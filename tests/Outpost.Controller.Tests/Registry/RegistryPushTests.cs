using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Outpost.Api.OsImages;
using Outpost.Controller.Tests.OsImages;
using Outpost.Oci.Content;
using Outpost.Oci.Errors;
using Outpost.Oci.Layout;

namespace Outpost.Controller.Tests.Registry;

/// <summary>
/// The push side of the controller's registry: `outpost os push` (our RegistryClient), and raw HTTP for the
/// distribution spec's chunked uploads and for what must be refused.
/// </summary>
public sealed class RegistryPushTests(ControllerRegistryFixture fixture) : IClassFixture<ControllerRegistryFixture>
{
    private string Token => File.ReadAllText(fixture.Host.AdminTokenPath).Trim();

    private HttpClient Pusher()
    {
        var client = ControllerFixture.CreateClient(fixture.Host.BaseAddress, fixture.Host.Pki.Root);
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        return client;
    }

    [Fact]
    public async Task Os_push_stores_the_artifact_and_the_registry_serves_its_manifest_with_the_four_layers_to_anyone()
    {
        var folder = await OsTestImages.CreateSignedFolderAsync(fixture.DataDirectory, "0.2.0");

        var pushed = await OsTestImages.PushAsync(fixture.Host, folder, "0.2.0");

        // fixture.Http has no token: devices pull anonymously.
        using var response = await fixture.Http.GetAsync($"/v2/{OsImageArtifact.Repository}/manifests/0.2.0");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(MediaTypes.OciManifest, response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(pushed.Digest.ToString(), response.Headers.GetValues("Docker-Content-Digest").Single());
        var manifest = OciJson.Deserialize<ImageManifest>(await response.Content.ReadAsByteArrayAsync(), "served manifest");
        Assert.Equal([OsImageArtifact.RootfsMediaType, OsImageArtifact.KernelMediaType, OsImageArtifact.InitrdMediaType, OsImageArtifact.SignatureMediaType],
            manifest.Layers.Select(l => l.MediaType));
        var files = new[] { OsImageArtifact.RootfsFile, OsImageArtifact.KernelFile, OsImageArtifact.InitrdFile, OsImageArtifact.SignatureFile };
        foreach (var (layer, file) in manifest.Layers.Zip(files))
        {
            var blob = await fixture.Http.GetByteArrayAsync($"/v2/{OsImageArtifact.Repository}/blobs/{layer.Digest}");
            var local = await File.ReadAllBytesAsync(Path.Combine(folder, file));
            Assert.True(blob.SequenceEqual(local), $"the {layer.MediaType} blob is not {file}");
        }

        var config = JsonDocument.Parse(await fixture.Http.GetByteArrayAsync($"/v2/{OsImageArtifact.Repository}/blobs/{manifest.Config.Digest}")).RootElement;
        Assert.Equal("0.2.0", config.GetProperty("config").GetProperty("Labels").GetProperty(OsImageArtifact.VersionLabel).GetString());
        var tags = JsonDocument.Parse(await fixture.Http.GetStringAsync($"/v2/{OsImageArtifact.Repository}/tags/list")).RootElement;
        Assert.Contains("0.2.0", tags.GetProperty("tags").EnumerateArray().Select(t => t.GetString()));
    }

    [Fact]
    public async Task Pushing_the_same_folder_again_gives_the_same_digest()
    {
        var folder = await OsTestImages.CreateSignedFolderAsync(fixture.DataDirectory, "0.5.0");

        var first = await OsTestImages.PushAsync(fixture.Host, folder, "0.5.0");
        var second = await OsTestImages.PushAsync(fixture.Host, folder, "0.5.0");

        Assert.Equal(first.Digest, second.Digest);
    }

    [Fact]
    public async Task Pushing_without_the_admin_token_is_401_with_a_basic_challenge()
    {
        using var response = await fixture.Http.PostAsync("/v2/outpost/hello/blobs/uploads/", null);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("Basic", response.Headers.WwwAuthenticate.Single().Scheme);
        Assert.Contains("UNAUTHORIZED", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Os_push_with_a_wrong_token_is_refused_and_stores_nothing()
    {
        var folder = await OsTestImages.CreateSignedFolderAsync(fixture.DataDirectory, "6.6.6");
        var (client, http) = OsTestImages.Client(fixture.Host, "0123456789abcdef");
        using (http)
        using (client)
        {
            await Assert.ThrowsAsync<RegistryAuthException>(() =>
                Outpost.Image.OsImages.OsImagePublisher.PushAsync(folder, "6.6.6", client, fixture.Host.ServerAddress, null, CancellationToken.None));
        }

        using var response = await fixture.Http.GetAsync($"/v2/{OsImageArtifact.Repository}/manifests/6.6.6");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task The_admin_token_as_basic_password_with_any_user_name_may_push()
    {
        using var client = ControllerFixture.CreateClient(fixture.Host.BaseAddress, fixture.Host.Pki.Root);
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("anyone:" + Token)));

        using var response = await client.PostAsync("/v2/outpost/basic/blobs/uploads/", null);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.StartsWith("/v2/outpost/basic/blobs/uploads/", response.Headers.Location!.OriginalString);
    }

    [Fact]
    public async Task A_blob_whose_bytes_do_not_match_its_digest_is_refused_and_not_stored()
    {
        using var client = Pusher();
        var claimed = OciDigest.Compute("what was promised"u8);

        using var response = await client.PostAsync($"/v2/outpost/bad/blobs/uploads/?digest={Uri.EscapeDataString(claimed.ToString())}",
            new ByteArrayContent("something else"u8.ToArray()));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("DIGEST_INVALID", await response.Content.ReadAsStringAsync());
        Assert.False(File.Exists(Path.Combine(fixture.LayoutPath, "blobs", "sha256", claimed.Hex)));
        Assert.False(File.Exists(Path.Combine(fixture.LayoutPath, "blobs", "sha256", OciDigest.Compute("something else"u8).Hex)));
    }

    [Fact]
    public async Task A_chunked_upload_patch_then_put_becomes_one_blob()
    {
        using var client = Pusher();
        var content = Encoding.UTF8.GetBytes(new string('x', 100_000) + "end");
        var digest = OciDigest.Compute(content);

        using var start = await client.PostAsync("/v2/outpost/chunks/blobs/uploads/", null);
        Assert.Equal(HttpStatusCode.Accepted, start.StatusCode);
        var location = start.Headers.Location!.OriginalString;
        using var patch = await client.PatchAsync(location, new ByteArrayContent(content[..60_000]));
        Assert.Equal(HttpStatusCode.Accepted, patch.StatusCode);
        Assert.Equal("0-59999", patch.Headers.GetValues("Range").Single());
        using var put = await client.PutAsync($"{location}?digest={Uri.EscapeDataString(digest.ToString())}", new ByteArrayContent(content[60_000..]));

        Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        Assert.Equal(digest.ToString(), put.Headers.GetValues("Docker-Content-Digest").Single());
        Assert.Equal(content, await File.ReadAllBytesAsync(OciLayout.Open(fixture.LayoutPath).GetBlobPath(digest)));
    }

    [Fact]
    public async Task A_manifest_naming_a_blob_that_was_not_pushed_is_refused()
    {
        using var client = Pusher();
        var manifest = OciJson.Serialize(new ImageManifest
        {
            MediaType = MediaTypes.OciManifest,
            Config = Descriptor.For(MediaTypes.OciConfig, "{\"never\":\"pushed\"}"u8),
            Layers = [],
        });
        using var body = new ByteArrayContent(manifest);
        body.Headers.ContentType = new MediaTypeHeaderValue(MediaTypes.OciManifest);

        using var response = await client.PutAsync("/v2/outpost/orphan/manifests/1", body);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("MANIFEST_BLOB_UNKNOWN", await response.Content.ReadAsStringAsync());
        using var lookup = await fixture.Http.GetAsync("/v2/outpost/orphan/manifests/1");
        Assert.Equal(HttpStatusCode.NotFound, lookup.StatusCode);
    }

    [Theory]
    [InlineData("/v2/outpost/x/blobs/uploads/..%2F..%2Fetc")]
    [InlineData("/v2/outpost/x/blobs/uploads/not-a-session")]
    public async Task An_upload_id_that_is_not_a_session_never_reaches_the_disk(string path)
    {
        using var client = Pusher();
        var uri = new Uri(fixture.Host.BaseAddress + path.TrimStart('/'), new UriCreationOptions { DangerousDisablePathAndQueryCanonicalization = true });

        using var response = await client.PatchAsync(uri, new ByteArrayContent("x"u8.ToArray()));

        Assert.True(response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.BadRequest, $"{path} answered {(int)response.StatusCode}");
    }

    [Fact]
    public async Task Deleting_content_is_405()
    {
        using var client = Pusher();

        using var response = await client.DeleteAsync("/v2/outpost/hello/manifests/1");

        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Assert.Contains("UNSUPPORTED", await response.Content.ReadAsStringAsync());
    }
}
