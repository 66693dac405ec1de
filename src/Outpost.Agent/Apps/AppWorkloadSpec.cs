using System.Text;
using Outpost.Agent.Bus;
using Outpost.Agent.Configuration;
using Outpost.Agent.Volumes;
using Outpost.Agent.Workloads;

namespace Outpost.Agent.Apps;

/// <summary>Turns an app and the status of its root volume (files and image run config) into what the runtime driver needs.</summary>
internal static class AppWorkloadSpec
{
    public static WorkloadSpec Build(AppSpec app, VolumeStatus rootVolume, string writableDirectory)
    {
        var run = rootVolume.Image;
        var process = new WorkloadProcess(new ImageProcessConfig(
            run?.Entrypoint ?? ValueList<string>.Empty, run?.Cmd ?? ValueList<string>.Empty, run?.Env ?? ValueList<string>.Empty,
            run?.WorkingDirectory, run?.User))
        {
            Env = app.UserData.Environment,
            // EVE_ECO_CMD replaces the whole command line, entrypoint included, as EVE does for containers.
            EntrypointOverride = app.UserData.Command,
        };
        return new WorkloadSpec(app.Uuid, app.DisplayName, [rootVolume.RootfsPath!], writableDirectory, process)
        {
            Limits = new WorkloadLimits(
                app.MemoryKiB > 0 ? (long)app.MemoryKiB * 1024 : null,
                app.Vcpus > 0 ? app.Vcpus : null),
            Hostname = Hostname(app.DisplayName, app.Uuid),
        };
    }

    /// <summary>An RFC 1123 label from the display name: lower-case letters, digits and '-', at most 63 characters.</summary>
    public static string Hostname(string displayName, string uuid)
    {
        var label = new StringBuilder();
        foreach (var c in displayName.ToLowerInvariant())
        {
            label.Append(char.IsAsciiLetterOrDigit(c) ? c : '-');
        }

        var text = label.ToString().Trim('-');
        if (text.Length > 63)
        {
            text = text[..63].TrimEnd('-');
        }

        return text.Length > 0 ? text : "app-" + uuid[..Math.Min(8, uuid.Length)];
    }
}
