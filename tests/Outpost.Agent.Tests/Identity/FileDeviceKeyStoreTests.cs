using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging.Abstractions;
using Outpost.Agent.Identity;
using Outpost.Agent.Tests.Fixtures;

namespace Outpost.Agent.Tests.Identity;

public sealed class FileDeviceKeyStoreTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private FileDeviceKeyStore Store() => new(_temp.Path, NullLogger<FileDeviceKeyStore>.Instance);

    [Fact]
    public void First_run_creates_a_P256_key_readable_only_by_the_owner_and_a_20_year_certificate()
    {
        var identity = Store().LoadOrCreate("SN-1");

        Assert.True(identity.CreatedNow);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Store().KeyPath));
        Assert.Equal("CN=SN-1", identity.Certificate.Subject);
        Assert.True(identity.Certificate.HasPrivateKey);
        using var key = identity.Certificate.GetECDsaPublicKey();
        Assert.Equal(256, key!.KeySize);
        Assert.True(identity.Certificate.NotAfter - identity.Certificate.NotBefore >= TimeSpan.FromDays(20 * 365));
        Assert.Empty(Directory.EnumerateFiles(_temp.Path, "*.tmp"));
    }

    [Fact]
    public void Later_runs_reuse_the_same_key_and_certificate()
    {
        var first = Store().LoadOrCreate("SN-1");
        var second = Store().LoadOrCreate("SN-other");

        Assert.False(second.CreatedNow);
        Assert.Equal(first.Certificate.Thumbprint, second.Certificate.Thumbprint);
        Assert.Equal(first.CertificatePem, second.CertificatePem);
    }

    [Fact]
    public void Half_an_identity_is_refused_instead_of_silently_becoming_a_new_device()
    {
        Store().LoadOrCreate("SN-1");
        File.Delete(Store().KeyPath);

        var error = Assert.Throws<OnboardingException>(() => Store().LoadOrCreate("SN-1"));
        Assert.Contains(FileDeviceKeyStore.KeyFile, error.Message);
    }

    [Theory]
    [InlineData("ABC123", "SN-SOFT", "ABC123", "SN-SOFT")]
    [InlineData(null, "SN-SOFT", "SN-SOFT", "SN-SOFT")]
    [InlineData("To Be Filled By O.E.M.", "SN-SOFT", "SN-SOFT", "SN-SOFT")]
    public void Soft_serial_doubles_as_serial_when_no_hardware_serial_is_readable(string? hardware, string soft, string serial, string softSerial)
    {
        Assert.Equal(new DeviceSerials(serial, softSerial), DeviceSerials.Resolve(soft, hardware));
    }
}
