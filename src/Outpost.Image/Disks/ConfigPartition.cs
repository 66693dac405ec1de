using System.Text;
using Outpost.Disk.Fat;

namespace Outpost.Image.Disks;

/// <summary>
/// Builds EVE's CONFIG FAT (label EVE) from a folder, as mkconf does: everything in the folder is copied,
/// and the files EVE reads are checked first so a typo fails the build, not the device's first boot.
/// </summary>
public static class ConfigPartition
{
    public const string Label = "EVE";

    private static readonly string[] PemFiles = ["root-certificate.pem", "onboard.cert.pem", "onboard.key.pem", "v2tlsbaseroot-certificates.pem"];

    public static async Task<FatDirectory> BuildAsync(string? configDirectory, CancellationToken cancellationToken)
    {
        var root = FatDirectory.CreateRoot();
        if (configDirectory is null) return root;
        if (!Directory.Exists(configDirectory))
            throw new ImageBuildException($"config folder '{configDirectory}' does not exist. Create it with 'server', 'root-certificate.pem' and the onboarding certificate/key, or leave the option out.");

        foreach (var file in Directory.EnumerateFiles(configDirectory, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            var relative = Path.GetRelativePath(configDirectory, file).Replace('\\', '/');
            var content = await File.ReadAllBytesAsync(file, cancellationToken);
            Validate(relative, content);
            root.AddFile(relative, content);
        }
        return root;
    }

    private static void Validate(string relative, byte[] content)
    {
        if (relative == "server")
        {
            var text = Encoding.UTF8.GetString(content).Trim();
            if (text.Length == 0 || text.Contains('\n') || text.Contains("://", StringComparison.Ordinal))
                throw new ImageBuildException($"config file 'server' must hold one line, the controller's HOST[:PORT] (no scheme), but holds '{text}'.");
        }
        else if (PemFiles.Contains(relative) && !Encoding.ASCII.GetString(content).Contains("-----BEGIN ", StringComparison.Ordinal))
        {
            throw new ImageBuildException($"config file '{relative}' is not PEM (no '-----BEGIN' line). Export it in PEM format.");
        }
        else if (relative == "DevicePortConfig/override.json")
        {
            try { System.Text.Json.JsonDocument.Parse(content).Dispose(); }
            catch (System.Text.Json.JsonException e) { throw new ImageBuildException($"config file '{relative}' is not valid JSON: {e.Message}"); }
        }
    }
}
