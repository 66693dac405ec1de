namespace Outpost.Oci.Errors;

/// <summary>A download or extraction would exceed the configured byte limit.</summary>
public sealed class QuotaExceededException(string what, long limitBytes, long attemptedBytes)
    : OciException($"{what} needs at least {attemptedBytes} bytes, over the limit of {limitBytes} bytes. Raise the limit or use a smaller image.")
{
    public long LimitBytes { get; } = limitBytes;
    public long AttemptedBytes { get; } = attemptedBytes;
}
