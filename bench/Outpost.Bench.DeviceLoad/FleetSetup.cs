using System.Diagnostics;
using Outpost.Api.Certificates;

namespace Outpost.Bench.DeviceLoad;

/// <summary>The onboarded fleet and how long onboarding took.</summary>
public sealed record Fleet(IReadOnlyList<SimulatedDevice> Devices, TimeSpan SetupTime) : IDisposable
{
    public void Dispose()
    {
        foreach (var device in Devices)
        {
            device.Dispose();
        }
    }
}

/// <summary>
/// The unmeasured phase: one onboarding certificate that admits any serial, then every device makes its key,
/// registers, attests and fetches its config once, <c>concurrency</c> devices at a time.
/// </summary>
public static class FleetSetup
{
    public static async Task<Fleet> OnboardAsync(DeviceApiClient client, int deviceCount, int concurrency, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        using var onboardingCertificate = DeviceCertificates.SelfSigned("outpost bench onboarding " + Guid.NewGuid().ToString("N"));
        await client.PostAdminAsync("/api/admin/onboarding",
            new { name = "device-load bench", certificatePem = Pem.Certificate(onboardingCertificate), serials = new[] { "*" } }, ct);
        var controller = await client.FetchSigningCertificateAsync(ct);

        // Serials carry a run id so a shared, long-lived controller can take several runs without 409s.
        var runId = Guid.NewGuid().ToString("N")[..8];
        var devices = Enumerable.Range(0, deviceCount).Select(i => new SimulatedDevice($"BENCH-{runId}-{i:D6}")).ToArray();
        try
        {
            await Parallel.ForEachAsync(devices, new ParallelOptions { MaxDegreeOfParallelism = concurrency, CancellationToken = ct },
                async (device, token) => await device.OnboardAsync(client, onboardingCertificate, controller, token));
        }
        catch
        {
            new Fleet(devices, clock.Elapsed).Dispose();
            throw;
        }

        return new Fleet(devices, clock.Elapsed);
    }
}
