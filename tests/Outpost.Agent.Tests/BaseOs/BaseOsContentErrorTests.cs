using System.Security.Cryptography;
using Org.Lfedge.Eve.Info;
using Outpost.Disk.Gpt;

namespace Outpost.Agent.Tests.BaseOs;

/// <summary>
/// The OS image cannot be loaded as configured: the content tree reports the error (ZInfoContentTree), IMGB's swList
/// entry carries it, and BaseOs, which only installs loaded content, never touches the disk.
/// </summary>
public sealed class BaseOsContentErrorTests(OsRegistryFixture registry) : IClassFixture<OsRegistryFixture>
{
    private static OsBuild V1 => OsRegistryFixture.V1;

    private static OsBuild V2 => OsRegistryFixture.V2;

    private static async Task ContentErrorAsync(BaseOsScenario s)
    {
        var before = s.Disk.Sha256();
        s.Start();
        await s.Run.WaitUntilAsync(() => s.LatestContent() is { State: ZSwState.Error, Err.Description.Length: > 0 }, "the content tree reported in ERROR");
        var error = s.LatestContent()!.Err.Description;
        await s.WaitForSwAsync(EvePartitions.ImgbName, sw => sw.UserStatus == BaseOsStatus.Failed && sw.SwErr?.Description == error, "FAILED with the content error");
        await s.Faults.UnplugAsync();
        s.AssertUntouched(before);
        Assert.Equal(0, s.Faults.SlotWrites);
        Assert.Equal(0, s.Faults.Writes);
    }

    [Fact]
    public async Task A_content_tree_sha256_that_is_not_the_manifest_digest_is_a_content_error_and_nothing_is_written()
    {
        await using var s = await BaseOsScenario.StartAsync(registry.Host, registry.Key, V1);
        s.Want(BaseOsScenario.V2, registry.V2Image);
        s.ContentSha256 = Convert.ToHexStringLower(SHA256.HashData("not the manifest"u8));
        await ContentErrorAsync(s);
    }

    [Fact]
    public async Task A_blob_the_registry_hands_out_truncated_is_a_content_error_and_nothing_is_written()
    {
        await using var proxy = await RegistryProxy.StartAsync(registry.Host);
        proxy.TruncateBlob = Convert.ToHexStringLower(SHA256.HashData(V2.Rootfs));
        await using var s = await BaseOsScenario.StartAsync(proxy.Host, registry.Key, V1);
        s.Want(BaseOsScenario.V2, registry.V2Image);
        await ContentErrorAsync(s);
        Assert.True(proxy.TruncatedResponses >= 1, "the proxy never served the truncated rootfs");
    }
}
