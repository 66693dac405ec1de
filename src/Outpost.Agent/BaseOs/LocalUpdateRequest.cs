using System.Text.Json;
using Outpost.Agent.Persistence;

namespace Outpost.Agent.BaseOs;

public enum LocalUpdateAction
{
    /// <summary>Fetch the image at the URL, write the other slot, boot it on probation.</summary>
    Apply,

    /// <summary>Boot the other slot's previous version again (or, on probation, leave the new one now).</summary>
    Rollback,
}

/// <summary>
/// What `outpost os update --apply|--rollback` asks of the running agent's BaseOs reconciler (the same one that
/// serves the controller), in STATE/baseos/local-request.json. It stays there until the reconciler is done with it,
/// so an agent killed halfway takes it up again; the outcome lands in state.json under the request's id.
/// </summary>
public sealed record LocalUpdateRequest(string Id, LocalUpdateAction Action, string? Url)
{
    public static string PathIn(string stateDirectory) => Path.Combine(stateDirectory, "baseos", "local-request.json");

    public static string RecordPathIn(string stateDirectory) => Path.Combine(stateDirectory, "baseos", "state.json");

    public void Write(string stateDirectory)
    {
        AtomicFile.CreatePrivateDirectory(Path.GetDirectoryName(PathIn(stateDirectory))!);
        AtomicFile.Write(PathIn(stateDirectory), JsonSerializer.SerializeToUtf8Bytes(this, BaseOsJson.Default.LocalUpdateRequest));
    }

    /// <summary>The pending request, or null; an unreadable file is no request (the command writes it atomically).</summary>
    public static LocalUpdateRequest? Read(string stateDirectory)
    {
        try
        {
            return AtomicFile.TryRead(PathIn(stateDirectory)) is { } bytes ? JsonSerializer.Deserialize(bytes, BaseOsJson.Default.LocalUpdateRequest) : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public static void Remove(string stateDirectory) => File.Delete(PathIn(stateDirectory));
}
