using Microsoft.Extensions.Logging;

namespace Outpost.Oci.Registry;

public sealed partial class RegistryClient
{
    private static partial class Log
    {
        [LoggerMessage(Level = LogLevel.Warning, Message = "Registry request failed ({Reason}); retry {Attempt} in {Delay}")]
        public static partial void Retrying(ILogger logger, string reason, int attempt, TimeSpan delay);

        [LoggerMessage(Level = LogLevel.Information, Message = "Resuming blob {Digest} at byte {Offset}")]
        public static partial void Resuming(ILogger logger, string digest, long offset);

        [LoggerMessage(Level = LogLevel.Debug, Message = "Blob {Digest} already present in {Repository}; upload skipped")]
        public static partial void BlobExists(ILogger logger, string digest, string repository);
    }
}
