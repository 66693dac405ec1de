using System.CommandLine;
using System.ComponentModel;
using System.Diagnostics;
using System.Text.Json;
using Outpost.Oci.Artifacts;
using Outpost.Oci.Layout;

namespace Outpost.Cli.Commands;

/// <summary>
/// `outpost image push-disk FILE --format qcow2|raw|iso REF`: a VM disk image pushed as an LF Edge ECI artifact (one
/// layer, the disk itself), the form `outpost app deploy --vm --image REF` and EVE devices pull.
/// </summary>
internal static class ImagePushDiskCommand
{
    private const string Tag = "disk";

    internal static Command Create()
    {
        var file = new Argument<string>("file") { Description = "The disk image file." };
        var target = new Argument<string>("reference") { Description = "Where to push, e.g. 127.0.0.1:5000/vm/debian:12." };
        var format = new Option<string>("--format") { Description = "The file's format: qcow2, raw or iso (attached as a read-only CD-ROM).", Required = true };
        format.AcceptOnlyFromAmong([.. DiskArtifact.Formats]);
        var command = new Command("push-disk", "Push a VM disk image (qcow2, raw or iso) to a registry as a disk artifact for `outpost app deploy --vm`.")
        {
            file, format, target,
        };
        foreach (var option in ImagePushCommand.RegistryOptions)
        {
            command.Options.Add(option);
        }

        command.SetAction((parse, ct) => CliErrors.RunAsync(async () =>
        {
            var reference = ImagePushCommand.ParseReference(parse.GetValue(target)!);
            var path = Path.GetFullPath(parse.GetValue(file)!);
            var diskFormat = parse.GetValue(format)!;
            if (!File.Exists(path))
            {
                throw new CliException($"Disk image '{parse.GetValue(file)}' does not exist; give the path of a {diskFormat} file.");
            }

            if (diskFormat == "qcow2")
            {
                await RefuseBackingFileAsync(path, Console.Out, ct);
            }

            var options = await ImagePushCommand.RegistryOptionsAsync(parse, reference, ct);
            var folder = LayoutFolder(path);
            try
            {
                var layout = await OciLayout.CreateAsync(folder, ct);
                Console.WriteLine($"Packing {path} ({new FileInfo(path).Length} bytes, {diskFormat}) as a disk artifact ...");
                await DiskArtifact.WriteAsync(layout, path, diskFormat, Tag, ct);
                await ImagePushCommand.PushWithProgressAsync(path, reference, options, Console.Out, pusher => pusher.PushAsync(layout, Tag, reference, ct));
            }
            finally
            {
                Directory.Delete(folder, recursive: true);
            }

            Console.WriteLine($"Deploy it: outpost app deploy --device D --name N --image {reference} --vm --disk-format {diskFormat}");
            return 0;
        }));
        return command;
    }

    /// <summary>
    /// A device receives one file, so a qcow2 overlay whose data partly lives in a backing file would arrive
    /// incomplete. This is only the early, friendly refusal; the device inspects every image it is given.
    /// </summary>
    internal static async Task RefuseBackingFileAsync(string path, TextWriter output, CancellationToken ct)
    {
        // The format is stated and the path absolute, so qemu-img neither probes nor reads a protocol prefix.
        var start = new ProcessStartInfo("qemu-img") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in new[] { "info", "-f", "qcow2", "--output=json", "-U", path })
        {
            start.ArgumentList.Add(argument);
        }

        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (Win32Exception)
        {
            output.WriteLine("note: qemu-img is not installed, so the image was not checked for a backing file here (the device checks it).");
            return;
        }

        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync(ct);
            var stderr = process.StandardError.ReadToEndAsync(ct);
            await process.WaitForExitAsync(ct);
            if (process.ExitCode != 0)
            {
                throw new CliException($"qemu-img cannot read {path} as qcow2: {(await stderr).Trim()} Check --format (`qemu-img info {path}` tells the format).");
            }

            using var info = JsonDocument.Parse(await stdout);
            if (info.RootElement.TryGetProperty("backing-filename", out var backing))
            {
                throw new CliException(
                    $"{path} is a qcow2 overlay on the backing file {backing.GetString()}, which would not travel with it. " +
                    $"Flatten it into one file first: qemu-img convert -O qcow2 {path} flat.qcow2, then push flat.qcow2.");
            }
        }
    }

    /// <summary>
    /// A throwaway layout beside the disk when that folder is writable, so the blob is a hard link and a large disk is
    /// not copied; in the temp folder otherwise.
    /// </summary>
    private static string LayoutFolder(string disk)
    {
        var name = $".outpost-push-disk-{Guid.NewGuid():N}";
        try
        {
            return Directory.CreateDirectory(Path.Combine(Path.GetDirectoryName(disk)!, name)).FullName;
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            return Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), name)).FullName;
        }
    }
}
