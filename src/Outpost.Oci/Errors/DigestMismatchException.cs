namespace Outpost.Oci.Errors;

/// <summary>Content did not hash to the digest (or size) it was announced with; the bad copy has been discarded.</summary>
public sealed class DigestMismatchException(string what, string expected, string actual)
    : OciException($"Content of {what} does not match: expected {expected}, got {actual}. The corrupt copy was discarded; retry, and if it persists the source is corrupt or tampered with.")
{
    public string Expected { get; } = expected;
    public string Actual { get; } = actual;
}
