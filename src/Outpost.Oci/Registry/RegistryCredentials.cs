namespace Outpost.Oci.Registry;

/// <summary>A user name and password (or personal access token) for one registry.</summary>
public sealed record RegistryCredentials(string Username, string Password)
{
    // Keep secrets out of logs and exception messages that print records.
    public override string ToString() => $"RegistryCredentials {{ Username = {Username}, Password = *** }}";
}
