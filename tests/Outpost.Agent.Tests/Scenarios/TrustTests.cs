using System.Net.Security;
using Google.Protobuf;
using Org.Lfedge.Eve.Config;
using Org.Lfedge.Eve.Info;
using Outpost.Agent.Bus;
using Outpost.Agent.Configuration;
using Outpost.Agent.Content;
using Outpost.Agent.Tests.Apps;
using Outpost.Agent.Tests.Fixtures;
using Outpost.Agent.Uplink;
using Outpost.Oci.Registry;

namespace Outpost.Agent.Tests.Scenarios;

/// <summary>
/// TLS to the controller trusts root-certificate.pem (and v2tlsbaseroot-certificates.pem) only, never the system's
/// public roots; a datastore's TLS certificate that does not verify is an error, never a reason to try plain HTTP.
/// </summary>
public sealed class TrustTests
{
    [Fact]
    public void A_certificate_the_platform_trusts_is_not_trusted_unless_it_chains_to_a_root_of_the_config_folder()
    {
        var ours = new TestPki();
        var other = new TestPki("Somebody Else", tlsFromOtherCa: true);

        // SslPolicyErrors.None: what the platform says for a certificate from a CA in the system store.
        Assert.False(ServerCertificateTrust.IsTrusted(other.Tls.Certificate, SslPolicyErrors.None, [ours.Root.Certificate], DateTimeOffset.UtcNow));
        Assert.True(ServerCertificateTrust.IsTrusted(ours.Tls.Certificate, SslPolicyErrors.RemoteCertificateChainErrors, [ours.Root.Certificate], DateTimeOffset.UtcNow));
        Assert.True(ServerCertificateTrust.IsTrusted(other.Tls.Certificate, SslPolicyErrors.RemoteCertificateChainErrors,
            [ours.Root.Certificate, other.TlsCa.Certificate], DateTimeOffset.UtcNow));
    }

    [Fact]
    public async Task A_controller_behind_a_TLS_certificate_of_another_CA_is_refused_until_that_CA_is_in_v2tlsbaseroot_certificates()
    {
        var pki = new TestPki("Behind A Proxy", tlsFromOtherCa: true);
        await using var scenario = await AgentScenario.StartAsync(withRegistry: false, pki: pki);
        scenario.Run.Options = scenario.Run.Options with { ExitWhenOnline = true, MaxOnboardingAttempts = 1 };

        var refused = await Assert.ThrowsAsync<OnboardingException>(() => scenario.Run.RunToCompletionAsync());
        Assert.Equal(OnboardingProblem.UntrustedController, refused.Problem);

        File.WriteAllText(Path.Combine(scenario.ConfigDir, Outpost.Agent.Identity.ConfigurationDirectory.TlsRootsFile), pki.TlsCa.CertificatePem);
        Assert.Equal(0, await scenario.Run.RunToCompletionAsync());
    }

    [Fact]
    public async Task A_registry_whose_TLS_certificate_does_not_verify_is_an_error_not_a_downgrade_and_its_dsCertPEM_makes_it_trusted()
    {
        var registryPki = new TestPki("Registry", tlsFromOtherCa: true);
        using var registry = await TestRegistry.StartAsync(tls: registryPki.Tls);
        var datastoreId = Guid.NewGuid().ToString();
        var trusting = new DatastoreSpec(datastoreId, DsType.DsContainerRegistry, "docker://" + registry.Host, "", "", "", new ValueList<string>([registryPki.TlsCa.CertificatePem]));
        using (var http = DatastoreHttp.CreateClient(trusting))
        using (var client = new RegistryClient(httpClient: http))
        {
            // The push goes through the same loopback probe: the registry answers TLS, so it is HTTPS, verified.
            await TestImages.PushAsync(client, $"{registry.Host}/demo/busybox:1", [TestImages.BusyboxLayer()], ["/bin/sh"]);
        }

        await using var scenario = await AgentScenario.StartAsync(withRegistry: false);
        var app = AgentScenario.NewApp("behind-tls");
        var withCertificate = false;
        scenario.State.ExtendConfig = config =>
        {
            var datastore = new DatastoreConfig { Id = datastoreId, DType = DsType.DsContainerRegistry, Fqdn = "docker://" + registry.Host };
            if (Volatile.Read(ref withCertificate))
            {
                datastore.DsCertPEM.Add(ByteString.CopyFromUtf8(registryPki.TlsCa.CertificatePem));
            }

            config.Datastores.Add(datastore);
            AppTestHost.AddAppTo(config, app, datastoreId, "demo/busybox:1", command: "sleep 3600");
        };
        scenario.Start();

        // Without the datastore's certificate the registry's TLS certificate does not verify: an error naming TLS.
        await scenario.Run.WaitUntilAsync(() => scenario.State.Infos.LastOrDefault(i => i.Cinfo?.Uuid == app.Content)?.Cinfo is { State: ZSwState.Error } tree
            && tree.Err?.Description.Contains("TLS", StringComparison.Ordinal) == true, "the content tree in ERROR with a TLS reason");
        var failed = scenario.State.Infos.Last(i => i.Cinfo?.Uuid == app.Content).Cinfo;
        // A plain-HTTP retry would have met the registry's "client sent an HTTP request to an HTTPS server" instead.
        Assert.DoesNotContain("HTTP request to an HTTPS server", failed.Err.Description, StringComparison.OrdinalIgnoreCase);
        Assert.NotEqual(ZSwState.Running, scenario.LatestApp(app.Uuid)?.State);

        // With it, the same registry is trusted and the app runs.
        Volatile.Write(ref withCertificate, true);

        await scenario.WaitForAppAsync(app.Uuid, ZSwState.Running);
    }
}
