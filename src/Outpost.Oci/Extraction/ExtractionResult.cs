using Outpost.Oci.Content;

namespace Outpost.Oci.Extraction;

/// <summary>What one layer extraction did.</summary>
/// <param name="Entries">Tar entries processed (including whiteouts).</param>
/// <param name="BytesWritten">Regular-file bytes written.</param>
/// <param name="SkippedEntries">Entries left out under <see cref="DisallowedEntryHandling.Skip"/>.</param>
/// <param name="DiffId">SHA-256 of the uncompressed tar stream, to compare with the config's rootfs.diff_ids.</param>
public sealed record ExtractionResult(int Entries, long BytesWritten, int SkippedEntries, OciDigest DiffId);
