using System.CommandLine;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using Outpost.Agent.Reporting;
using Outpost.Agent.Reporting.Slots;
using Outpost.Api.OsImages;
using Outpost.Disk;
using Outpost.Disk.Slots;

namespace Outpost.Agent.BaseOs;

/// <summary>
/// Local mode (EOS's os-update), defined once for `outpost os update` and `outpost-device os update`: on a device
/// without a controller (or cut off from it), from an update URL (a folder signed with `outpost image sign`, served by
/// any web server). `--check` compares the URL's rootfs checksum with the running root; `--apply` and `--rollback`
/// hand the work to the running agent's BaseOs reconciler, the same one that serves the controller, and wait for it.
/// </summary>
public static class OsUpdateCommandLine
{
    /// <summary>Where PID 1 of an Outpost OS image keeps the agent's state.</summary>
    public const string DeviceStateDirectory = "/persist/outpost";

    public static Command Create()
    {
        var check = new Option<bool>("--check") { Description = "Say whether the update URL offers another OS than the one running (compares checksums)." };
        var apply = new Option<bool>("--apply") { Description = "Download, verify, write the other slot and reboot into it on probation; committed after a good boot." };
        var rollback = new Option<bool>("--rollback") { Description = "Boot the previous version in the other slot again." };
        var url = new Option<string?>("--url") { Description = "The update URL: a folder holding SHA256SUMS, os-image.sig.json, rootfs.img, boot/vmlinuz, boot/initrd.img." };
        var state = new Option<string>("--state") { Description = "The agent's state folder.", DefaultValueFactory = _ => DeviceStateDirectory };
        var timeout = new Option<int>("--timeout") { Description = "Seconds to wait for the agent to finish (--apply, --rollback).", DefaultValueFactory = _ => 1800 };
        var disk = new Option<string?>("--disk") { Description = "The boot disk (default: the disk of the booted partition).", Hidden = true };
        var bootLabel = new Option<string?>("--boot-label") { Description = "The booted slot (default: root=PARTLABEL= of /proc/cmdline).", Hidden = true };
        var update = new Command("update", "Update this device's OS from an update URL without a controller (local mode).") { check, apply, rollback, url, state, timeout, disk, bootLabel };
        update.SetAction(async (parse, ct) =>
        {
            try
            {
                var stateDir = Path.GetFullPath(parse.GetValue(state)!);
                var chosen = new[] { parse.GetValue(check), parse.GetValue(apply), parse.GetValue(rollback) }.Count(b => b);
                if (chosen != 1)
                    throw new OsUpdateCommandException("Give one of --check, --apply or --rollback.");
                var address = parse.GetValue(url);
                if (parse.GetValue(rollback))
                    return await RequestAsync(stateDir, new LocalUpdateRequest(Guid.NewGuid().ToString(), LocalUpdateAction.Rollback, null), TimeSpan.FromSeconds(parse.GetValue(timeout)), ct);
                if (address is null || !Uri.TryCreate(address, UriKind.Absolute, out var parsed) || parsed.Scheme is not ("http" or "https"))
                    throw new OsUpdateCommandException($"--url must be an http:// or https:// URL of a signed OS image folder, not '{address}'.");
                if (parse.GetValue(apply))
                    return await RequestAsync(stateDir, new LocalUpdateRequest(Guid.NewGuid().ToString(), LocalUpdateAction.Apply, address), TimeSpan.FromSeconds(parse.GetValue(timeout)), ct);
                return await CheckAsync(stateDir, LocalOsImageFetcher.AsFolder(parsed), parse.GetValue(disk), parse.GetValue(bootLabel), ct);
            }
            catch (Exception e) when (e is OsUpdateCommandException or OsImageRefusedException or HttpRequestException or IOException)
            {
                await Console.Error.WriteLineAsync($"error: {e.Message}");
                return 1;
            }
        });
        return update;
    }

    private static async Task<int> CheckAsync(string stateDir, Uri url, string? diskPath, string? label, CancellationToken ct)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(2) };
        var (sums, signature) = await LocalOsImageFetcher.ReadIndexAsync(http, url, ct);
        var offered = sums[OsImageArtifact.RootfsFile];
        label ??= HostFacts.Read().BootPartitionLabel
            ?? throw new OsUpdateCommandException("This host did not boot from an Outpost disk (no root=PARTLABEL=IMGA|IMGB): there is no running root to compare.");
        var running = ReadRecord(stateDir)?.Slots.GetValueOrDefault(label)?.RootfsSha256;
        if (string.IsNullOrEmpty(running))
        {
            // A slot the image builder wrote has no record: hash as many bytes of it as the offered rootfs has.
            using var head = await http.GetAsync(new Uri(url, OsImageArtifact.RootfsFile), HttpCompletionOption.ResponseHeadersRead, ct);
            head.EnsureSuccessStatusCode();
            var length = head.Content.Headers.ContentLength ?? throw new OsUpdateCommandException($"{url} does not say how long {OsImageArtifact.RootfsFile} is.");
            diskPath ??= OsSlotReader.BootDiskPath(HostRoots.Host, label) ?? throw new OsUpdateCommandException($"The disk holding {label} was not found under /sys/class/block.");
            await using var disk = DiskStream.OpenRead(diskPath);
            var partition = AbSlots.Open(disk).Partition(label);
            running = length > partition.ByteLength ? "" : await HashPrefixAsync(disk, partition.ByteOffset, length, ct);
        }

        if (running == offered)
        {
            Console.WriteLine($"Up to date: {label} runs the OS {url} offers ({signature.Version}, sha256 {offered[..12]}).");
            return 0;
        }

        Console.WriteLine($"Update available: {signature.Version} (sha256 {offered[..12]}) at {url}; {label} runs another root. Apply it with --apply --url {url}");
        return 0;
    }

    private static async Task<string> HashPrefixAsync(Stream disk, long offset, long length, CancellationToken ct)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 20];
        disk.Position = offset;
        for (var left = length; left > 0;)
        {
            var read = await disk.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, left)), ct);
            if (read == 0)
                break;
            sha.AppendData(buffer, 0, read);
            left -= read;
        }

        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    /// <summary>Leaves the request for the agent and follows its record until the request's outcome is there.</summary>
    private static async Task<int> RequestAsync(string stateDir, LocalUpdateRequest request, TimeSpan limit, CancellationToken ct)
    {
        if (!Directory.Exists(stateDir))
            throw new OsUpdateCommandException($"{stateDir} does not exist: give the agent's --state folder.");
        request.Write(stateDir);
        Console.WriteLine(request.Action == LocalUpdateAction.Apply
            ? $"Asked the agent to update from {request.Url}; it downloads, verifies and writes the other slot..."
            : "Asked the agent to roll back to the other slot...");
        var clock = Stopwatch.StartNew();
        string? shown = null;
        while (true)
        {
            var record = ReadRecord(stateDir);
            if (record?.LocalRequestDone == request.Id)
            {
                Console.WriteLine(record.LastOutcome);
                return record.LocalRequestSucceeded ? 0 : 1;
            }

            if (record?.LastOutcome is { } outcome && outcome != shown && shown is not null)
                Console.WriteLine(outcome);
            shown = record?.LastOutcome ?? "";
            if (clock.Elapsed > limit)
                throw new OsUpdateCommandException($"The agent did not finish within {limit.TotalSeconds:0} s; is it running with --state {stateDir}? The request stays in {LocalUpdateRequest.PathIn(stateDir)}.");
            await Task.Delay(500, ct);
        }
    }

    private static BaseOsRecord? ReadRecord(string stateDir)
    {
        try
        {
            return File.Exists(LocalUpdateRequest.RecordPathIn(stateDir))
                ? JsonSerializer.Deserialize(File.ReadAllBytes(LocalUpdateRequest.RecordPathIn(stateDir)), BaseOsJson.Default.BaseOsRecord)
                : null;
        }
        catch (JsonException)
        {
            return null; // the agent writes it atomically: an unparsable file is not its record
        }
    }
}

public sealed class OsUpdateCommandException(string message) : Exception(message);
