namespace Outpost.Bench.DeviceLoad;

/// <summary>What one load run does; immutable, built from the command line.</summary>
public sealed record LoadOptions(int Devices, TimeSpan Duration, int Concurrency, RemoteController? Remote)
{
    /// <summary>Refuses values that would make the run meaningless or unbounded.</summary>
    public void Validate()
    {
        if (Devices < 1)
        {
            throw new ArgumentException("--devices must be at least 1.");
        }

        if (Duration <= TimeSpan.Zero)
        {
            throw new ArgumentException("--duration must be a positive number of seconds.");
        }

        if (Concurrency < 1)
        {
            throw new ArgumentException("--concurrency must be at least 1.");
        }
    }
}

/// <summary>A controller that is already running elsewhere, as the admin CLI addresses one.</summary>
public sealed record RemoteController(Uri BaseAddress, string TokenFile, string CaFile);
