using Org.Lfedge.Eve.Info;
using Outpost.Disk.Gpt;

namespace Outpost.Agent.Tests.BaseOs;

/// <summary>
/// OS images the device must not install, each loaded by the content subsystem and refused by BaseOs before a byte
/// reaches the disk: the disk stays bit for bit as it was (IMGA active and booted next, IMGB unused) and the reason
/// is in IMGB's swList entry (swErr), where the controller shows it.
/// </summary>
public sealed class BaseOsRefusalTests(OsRegistryFixture registry) : IClassFixture<OsRegistryFixture>
{
    private static OsBuild V1 => OsRegistryFixture.V1;

    private static OsBuild V2 => OsRegistryFixture.V2;

    private async Task RefusedAsync(PushedOsImage image, string reason, bool trustKey = true)
    {
        await using var s = await BaseOsScenario.StartAsync(registry.Host, registry.Key, V1, trustKey: trustKey);
        var before = s.Disk.Sha256();
        s.Want(BaseOsScenario.V2, image);

        s.Start();
        await s.WaitForSwAsync(EvePartitions.ImgbName, sw => sw.UserStatus == BaseOsStatus.Failed && sw.Status == ZSwState.Error
            && sw.SwErr?.Description.Contains(reason, StringComparison.Ordinal) == true && sw.ShortVersion == BaseOsScenario.V2, $"FAILED with \"{reason}\"");
        // The content tree's own info travels apart from IMGB's, so it may reach the controller a little later.
        await s.Run.WaitUntilAsync(() => s.LatestContent()?.State == ZSwState.Loaded, $"the content tree reported LOADED (latest: {s.LatestContent()?.State})");
        // A few more passes: the refusal holds, and nothing is written meanwhile.
        await s.Faults.WaitForPassesAsync(2);
        await s.Faults.UnplugAsync();
        s.AssertUntouched(before);
        Assert.Equal(0, s.Faults.Writes);
        Assert.True(s.Agent.IsRunning, "the agent rebooted for an image it refused");
        Assert.Null(s.ReadState()!.Pending);
    }

    [Fact]
    public async Task An_unsigned_image_is_refused() =>
        await RefusedAsync(await registry.PushAsync("unsigned", V2, OsImageFlaw.Unsigned), "not signed");

    [Fact]
    public async Task An_image_signed_with_another_key_is_refused() =>
        await RefusedAsync(await registry.PushAsync("other-key", V2, OsImageFlaw.OtherKey), "does not verify with the key on the CONFIG partition");

    [Fact]
    public async Task An_image_whose_signature_is_about_other_bytes_is_refused() =>
        await RefusedAsync(await registry.PushAsync("tampered-kernel", V2, OsImageFlaw.TamperedKernel), "signature is about other bytes");

    [Fact]
    public async Task Without_os_signing_pem_on_CONFIG_no_image_is_installed() =>
        await RefusedAsync(registry.V2Image, "No key to verify OS images with", trustKey: false);

    [Fact]
    public async Task An_arm64_image_is_refused() =>
        await RefusedAsync(await registry.PushAsync("arm64", V2, OsImageFlaw.Arm64), "architecture 'arm64'");

    [Fact]
    public async Task An_image_whose_version_label_is_not_the_asked_version_is_refused() =>
        await RefusedAsync(await registry.PushAsync("other-label", V2, OsImageFlaw.OtherVersionLabel), "says it is version '0.2.0-other' but the controller asked for 0.2.0");

    [Fact]
    public async Task A_rootfs_larger_than_the_slot_is_refused_before_anything_is_written()
    {
        var big = OsBuild.Make(BaseOsScenario.V2, (int)OsTestDisk.SlotBytes + 1, 404);
        await RefusedAsync(await registry.PushAsync("too-big", big), $"holds only {OsTestDisk.SlotBytes}");
    }
}
