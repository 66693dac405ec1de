using Google.Protobuf;

namespace Outpost.Agent.Persistence;

/// <summary>
/// The files the agent keeps in STATEDIR besides the device key: the device UUID, the checkpoint of the
/// controller certificates (raw ZControllerCert), the attestation integrity token, the last signed config
/// response (<c>lastconfig</c>, re-verified before reuse), the log message id counter and the outbox.
/// </summary>
public sealed class AgentStateStore(string stateDirectory)
{
    public string Directory { get; } = stateDirectory;

    public string OutboxDirectory => Path.Combine(Directory, "outbox");

    public string LogMessageIdPath => Path.Combine(Directory, "log-msgid");

    private string UuidPath => Path.Combine(Directory, "uuid");

    private string ControllerCertsPath => Path.Combine(Directory, "controllercerts");

    private string IntegrityTokenPath => Path.Combine(Directory, "integrity-token");

    private string LastConfigPath => Path.Combine(Directory, "lastconfig");

    public string? ReadDeviceUuid() => AtomicFile.TryReadText(UuidPath)?.Trim() is { Length: > 0 } uuid ? uuid : null;

    public void SaveDeviceUuid(string uuid) => AtomicFile.WriteText(UuidPath, uuid + "\n");

    public byte[]? ReadControllerCerts() => AtomicFile.TryRead(ControllerCertsPath);

    public void SaveControllerCerts(byte[] zControllerCert) => AtomicFile.Write(ControllerCertsPath, zControllerCert);

    public ByteString? ReadIntegrityToken() => AtomicFile.TryRead(IntegrityTokenPath) is { Length: > 0 } token ? ByteString.CopyFrom(token) : null;

    // The token is a bearer credential for /config: readable by the agent only.
    public void SaveIntegrityToken(ByteString token) =>
        AtomicFile.Write(IntegrityTokenPath, token.Span, UnixFileMode.UserRead | UnixFileMode.UserWrite);

    public void ClearIntegrityToken() => File.Delete(IntegrityTokenPath);

    public byte[]? ReadLastConfig() => AtomicFile.TryRead(LastConfigPath);

    public void SaveLastConfig(byte[] signedResponse) => AtomicFile.Write(LastConfigPath, signedResponse);
}
