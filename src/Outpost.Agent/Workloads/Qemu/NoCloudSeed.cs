using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Outpost.Agent.Persistence;
using Outpost.Disk.Fat;

namespace Outpost.Agent.Workloads.Qemu;

/// <summary>What a VM app's cloud-init seed carries.</summary>
/// <param name="InstanceId">meta-data <c>instance-id</c>: the app's UUID, so cloud-init runs its once-per-instance steps once per app, not once per boot.</param>
/// <param name="Hostname">meta-data <c>local-hostname</c>, derived from the display name by the caller.</param>
/// <param name="UserData">The app's userData, already base64-decoded; any bytes (cloud-config text, a gzip'd multipart...).</param>
/// <param name="NetworkConfig">The <c>network-config</c> file (our own generated YAML, written as given); null: no such file.</param>
public sealed record NoCloudSeedContent(string InstanceId, string Hostname, byte[] UserData, string? NetworkConfig);

/// <summary>
/// The NoCloud seed disk of a VM app: a FAT volume labelled <see cref="VolumeLabel"/>, which cloud-init's NoCloud
/// datasource finds by its label, holding <c>user-data</c>, <c>meta-data</c> and, when given, <c>network-config</c>.
/// Built with <see cref="FatWriter"/> rather than mkfs.vfat and mtools, so the agent needs no host tools and the same
/// content always gives the same bytes (fixed timestamp, a volume serial derived from the content).
/// </summary>
public static class NoCloudSeed
{
    public const string VolumeLabel = "CIDATA";

    /// <summary>
    /// The most user-data a seed takes. Far above what a config can carry (an app's userData is at most 256 KiB of
    /// base64, <c>ConfigBounds.MaxUserDataBytes</c>), so the seed is never the tighter limit for the controller's data,
    /// while it keeps every seed a small FAT12/16 volume (below the ~33 MiB where the writer switches to FAT32) and
    /// bounds what one app can make the agent write to persist.
    /// </summary>
    public const int MaxUserDataBytes = 16 * 1024 * 1024;

    internal const string UserDataFileName = "user-data";
    internal const string MetaDataFileName = "meta-data";
    internal const string NetworkConfigFileName = "network-config";

    private const long MiB = 1024 * 1024;

    // Clusters are 2 KiB on the FAT12/16 volumes seeds are (512 bytes on FAT32, 4 KiB beyond 260 MiB); rounding each
    // file to 4 KiB covers all of them.
    private const long FileRounding = 4096;

    // Boot sector and reserved sectors, the fixed 16 KiB root directory of FAT12/16 (32 KiB reserved on FAT32), the label.
    private const long FixedOverhead = 64 * 1024;

    // Stamped on every entry: a constant, so the image depends on the content only. DOS time starts in 1980.
    private static readonly DateTime Timestamp = new(2000, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    /// <summary>Writes the seed image atomically (temp file + rename) at <paramref name="path"/>, mode 0600 (it can hold secrets).</summary>
    /// <exception cref="WorkloadSpecException">The instance-id is empty or the user-data is larger than <see cref="MaxUserDataBytes"/>.</exception>
    public static async Task WriteAsync(string path, NoCloudSeedContent content, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var files = Files(content);
        cancellationToken.ThrowIfCancellationRequested();

        var root = FatDirectory.CreateRoot();
        foreach (var (name, bytes) in files)
        {
            root.AddFile(name, bytes);
        }
        var options = new FatVolumeOptions(ImageSize(files), VolumeLabel, Timestamp, VolumeSerial(files));

        // 0600 from the start: user-data often holds passwords and keys, never readable by others, not even briefly.
        await AtomicFile.WriteAsync(path, (stream, ct) => FatWriter.WriteAsync(stream, root, options, ct), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The meta-data text (YAML): <c>instance-id</c> and <c>local-hostname</c>, each a double-quoted YAML scalar on its
    /// own line. Everything outside printable ASCII is escaped (as are <c>"</c> and <c>\</c>), so the text is plain
    /// ASCII and a hostile display name or id cannot end its scalar, add a line or add a key.
    /// </summary>
    /// <exception cref="WorkloadSpecException">The instance-id is empty.</exception>
    public static string MetaData(NoCloudSeedContent content)
    {
        Validate(content);
        return $"instance-id: {Quote(content.InstanceId)}\nlocal-hostname: {Quote(content.Hostname)}\n";
    }

    /// <summary>The size of the image for <paramref name="content"/>: the files plus what FAT needs around them, rounded up to a MiB.</summary>
    internal static long ImageSize(NoCloudSeedContent content) => ImageSize(Files(content));

    private static long ImageSize(IReadOnlyList<(string Name, byte[] Bytes)> files)
    {
        long data = files.Sum(f => RoundUp(f.Bytes.Length, FileRounding));
        // Two FAT copies: at most 2 x 4 bytes per 512-byte cluster (FAT32) = 1/64 of the volume; 1/32 of the data leaves margin.
        long needed = data + FixedOverhead + data / 32;
        return RoundUp(needed, MiB);
    }

    private static List<(string Name, byte[] Bytes)> Files(NoCloudSeedContent content)
    {
        Validate(content);
        if (content.UserData.Length > MaxUserDataBytes)
        {
            throw new WorkloadSpecException(
                $"The app's cloud-init user-data is {content.UserData.Length} bytes, more than the {MaxUserDataBytes / MiB} MiB a NoCloud seed takes; "
                + "make it smaller (cloud-init also accepts gzip-compressed user-data).");
        }

        // Sorted by name, as the FAT writer stores them; the serial is computed over this same list.
        var files = new List<(string Name, byte[] Bytes)>
        {
            (MetaDataFileName, Encoding.ASCII.GetBytes(MetaData(content))),
        };
        if (content.NetworkConfig is { } networkConfig)
        {
            files.Add((NetworkConfigFileName, Encoding.UTF8.GetBytes(networkConfig)));
        }
        files.Add((UserDataFileName, content.UserData));
        return files;
    }

    private static void Validate(NoCloudSeedContent content)
    {
        ArgumentNullException.ThrowIfNull(content);
        ArgumentNullException.ThrowIfNull(content.InstanceId);
        ArgumentNullException.ThrowIfNull(content.Hostname);
        ArgumentNullException.ThrowIfNull(content.UserData);
        if (string.IsNullOrWhiteSpace(content.InstanceId))
        {
            // cloud-init compares the instance-id with the one it saw last to tell a new instance from a reboot.
            throw new WorkloadSpecException("A NoCloud seed needs an instance-id (the app's UUID); it was empty.");
        }
    }

    /// <summary>
    /// A volume serial (blkid's UUID for vfat) from a SHA-256 of the file names and contents: reproducible, and two
    /// different seeds differ, so a guest that mounts by UUID never mistakes one app's seed for another's.
    /// </summary>
    private static uint VolumeSerial(IReadOnlyList<(string Name, byte[] Bytes)> files)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> length = stackalloc byte[8];
        foreach (var (name, bytes) in files)
        {
            // Length-prefixed, so no two different file lists hash the same bytes.
            var nameBytes = Encoding.ASCII.GetBytes(name);
            BinaryPrimitives.WriteInt64LittleEndian(length, nameBytes.Length);
            hash.AppendData(length);
            hash.AppendData(nameBytes);
            BinaryPrimitives.WriteInt64LittleEndian(length, bytes.Length);
            hash.AppendData(length);
            hash.AppendData(bytes);
        }
        return BinaryPrimitives.ReadUInt32LittleEndian(hash.GetHashAndReset());
    }

    /// <summary>
    /// A YAML double-quoted scalar. Printable ASCII stays as is except <c>"</c> and <c>\</c>; tab, LF and CR get their
    /// short escapes; any other character is escaped by code point (<c>\xXX</c>, <c>\uXXXX</c>, <c>\UXXXXXXXX</c> for a
    /// surrogate pair), which covers the line breaks YAML parsers know beyond LF and CR (U+0085, U+2028, U+2029).
    /// </summary>
    private static string Quote(string value)
    {
        var builder = new StringBuilder(value.Length + 2).Append('"');
        for (int i = 0; i < value.Length; i++)
        {
            char c = value[i];
            switch (c)
            {
                case '"':
                    builder.Append("\\\"");
                    break;
                case '\\':
                    builder.Append("\\\\");
                    break;
                case '\t':
                    builder.Append("\\t");
                    break;
                case '\n':
                    builder.Append("\\n");
                    break;
                case '\r':
                    builder.Append("\\r");
                    break;
                case >= ' ' and <= '~':
                    builder.Append(c);
                    break;
                case <= '\u00FF':
                    builder.Append(CultureInfo.InvariantCulture, $"\\x{(int)c:X2}");
                    break;
                default:
                    if (char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
                    {
                        builder.Append(CultureInfo.InvariantCulture, $"\\U{char.ConvertToUtf32(c, value[i + 1]):X8}");
                        i++;
                    }
                    else
                    {
                        // A lone surrogate too: escaped by its code unit, so the string comes back as it was.
                        builder.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:X4}");
                    }
                    break;
            }
        }
        return builder.Append('"').ToString();
    }

    private static long RoundUp(long value, long multiple) => (value + multiple - 1) / multiple * multiple;
}
