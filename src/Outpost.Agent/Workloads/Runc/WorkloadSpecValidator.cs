using System.Text.RegularExpressions;

namespace Outpost.Agent.Workloads.Runc;

/// <summary>Checks a spec before anything touches the disk, so mistakes surface as clear messages.</summary>
internal static partial class WorkloadSpecValidator
{
    public static void ValidateId(string id)
    {
        if (!ValidId().IsMatch(id))
        {
            throw new WorkloadSpecException(
                $"The workload id '{id}' is not usable as a container id; use letters, digits, '-', '_' or '.' (an app UUID fits).");
        }
    }

    public static void Validate(WorkloadSpec spec)
    {
        ValidateId(spec.Id);
        if (spec.LowerDirectories.Count == 0)
        {
            throw new WorkloadSpecException($"Workload {spec.Id} has no rootfs: give at least one unpacked image layer directory.");
        }

        foreach (var lower in spec.LowerDirectories)
        {
            if (!Path.IsPathRooted(lower) || !Directory.Exists(lower))
            {
                throw new WorkloadSpecException(
                    $"The rootfs directory '{lower}' of workload {spec.Id} does not exist (or is not absolute); unpack the image again before preparing the app.");
            }
        }

        if (!Path.IsPathRooted(spec.WritableDirectory))
        {
            throw new WorkloadSpecException($"The writable directory '{spec.WritableDirectory}' of workload {spec.Id} must be an absolute path.");
        }

        foreach (var mount in spec.Mounts)
        {
            if (!Path.IsPathRooted(mount.HostPath) || !Path.Exists(mount.HostPath))
            {
                throw new WorkloadSpecException(
                    $"The volume '{mount.HostPath}' for {mount.ContainerPath} does not exist on the host; create the volume before preparing the app.");
            }

            if (!mount.ContainerPath.StartsWith('/'))
            {
                throw new WorkloadSpecException($"The mount target '{mount.ContainerPath}' must be an absolute path inside the container.");
            }
        }

        if (spec.Limits.MemoryBytes is <= 0 || spec.Limits.Vcpus is <= 0)
        {
            throw new WorkloadSpecException($"Workload {spec.Id} has a non-positive limit; leave a limit unset for none.");
        }

        if (spec.NetworkNamespacePath is { } netns && !File.Exists(netns))
        {
            throw new WorkloadSpecException(
                $"The network namespace '{netns}' for workload {spec.Id} does not exist; create the network before the app.");
        }
    }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")]
    private static partial Regex ValidId();
}
