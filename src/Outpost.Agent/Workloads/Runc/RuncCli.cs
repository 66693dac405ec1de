using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Outpost.Agent.Workloads.Runc;

/// <summary>A container as `runc state` / `runc list` report it.</summary>
internal sealed record RuncContainer(string Id, string Status, int Pid);

/// <summary>Runs the short-lived runc commands (state, list, kill, delete, events) against the driver's own runc root.</summary>
internal sealed class RuncCli(string runcPath, string runcRoot)
{
    public string RuncPath => runcPath;

    public string RuncRoot => runcRoot;

    public async Task<RuncContainer?> StateAsync(string id, CancellationToken cancellationToken)
    {
        var result = await RunAsync(["state", id], cancellationToken);
        if (result.ExitCode != 0)
        {
            // runc says "container does not exist" (wording varies by version); any failure here means no container.
            return null;
        }

        return ParseContainer(JsonNode.Parse(result.Stdout));
    }

    public async Task<IReadOnlyList<RuncContainer>> ListAsync(CancellationToken cancellationToken)
    {
        var result = await RunCheckedAsync(["list", "--format", "json"], "list containers", cancellationToken);
        var list = JsonNode.Parse(string.IsNullOrWhiteSpace(result) ? "null" : result) as JsonArray;
        return list?.Select(ParseContainer).OfType<RuncContainer>().ToList() ?? [];
    }

    /// <summary>Sends a signal; false when the container is not running (nothing to signal).</summary>
    public async Task<bool> KillAsync(string id, string signal, CancellationToken cancellationToken)
    {
        var result = await RunAsync(["kill", id, signal], cancellationToken);
        return result.ExitCode == 0;
    }

    public async Task DeleteForceAsync(string id, CancellationToken cancellationToken)
    {
        if (await StateAsync(id, cancellationToken) is null)
        {
            return;
        }

        await RunCheckedAsync(["delete", "--force", id], $"delete container {id}", cancellationToken);
    }

    /// <summary>One `runc events --stats` sample, or null when the container is gone.</summary>
    public async Task<JsonNode?> StatsAsync(string id, CancellationToken cancellationToken)
    {
        var result = await RunAsync(["events", "--stats", id], cancellationToken);
        return result.ExitCode == 0 ? JsonNode.Parse(result.Stdout) : null;
    }

    private static RuncContainer? ParseContainer(JsonNode? node) =>
        node?["id"]?.GetValue<string>() is { } id
            ? new RuncContainer(id, node["status"]?.GetValue<string>() ?? "unknown", node["pid"]?.GetValue<int>() ?? 0)
            : null;

    private async Task<string> RunCheckedAsync(IReadOnlyList<string> args, string what, CancellationToken cancellationToken)
    {
        var result = await RunAsync(args, cancellationToken);
        if (result.ExitCode != 0)
        {
            throw new WorkloadRuntimeException($"runc could not {what} (exit {result.ExitCode}): {result.Stderr.Trim()}");
        }

        return result.Stdout;
    }

    private async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(IReadOnlyList<string> args, CancellationToken cancellationToken)
    {
        var startInfo = new ProcessStartInfo(runcPath)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        startInfo.ArgumentList.Add("--root");
        startInfo.ArgumentList.Add(runcRoot);
        foreach (var arg in args)
        {
            startInfo.ArgumentList.Add(arg);
        }

        using var process = StartProcess(startInfo);
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        return (process.ExitCode, await stdout, await stderr);
    }

    private Process StartProcess(ProcessStartInfo startInfo)
    {
        try
        {
            return Process.Start(startInfo) ?? throw new WorkloadRuntimeException($"runc at '{runcPath}' did not start.");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new WorkloadRuntimeException(
                $"runc could not be started from '{runcPath}' ({e.Message}); install runc or point RuncDriverOptions.RuncPath at it.", e);
        }
    }
}
