namespace Outpost.Bench.DeviceLoad;

/// <summary>One run end to end: pick the controller, onboard the fleet, load it for the duration, report.</summary>
public static class DeviceLoadBenchmark
{
    public static async Task RunAsync(LoadOptions options, TextWriter output, CancellationToken ct)
    {
        await using var target = options.Remote is { } remote
            ? await ControllerTarget.ConnectAsync(remote, ct)
            : await ControllerTarget.StartInProcessAsync(ct);
        using var client = new DeviceApiClient(target, options.Concurrency);

        output.WriteLine($"setup: onboarding {options.Devices} devices...");
        using var fleet = await FleetSetup.OnboardAsync(client, options.Devices, options.Concurrency, ct);
        output.WriteLine($"setup: done in {fleet.SetupTime.TotalSeconds:F1} s; measuring for {options.Duration.TotalSeconds:F0} s...");

        var result = await LoadRun.RunAsync(client, fleet.Devices, options.Concurrency, options.Duration, ct);
        output.WriteLine();
        LoadReport.Print(output, options, target.Description, fleet, result);
    }
}
