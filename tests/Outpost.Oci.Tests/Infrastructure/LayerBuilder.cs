using System.Formats.Tar;
using System.IO.Compression;
using System.Text;

namespace Outpost.Oci.Tests.Infrastructure;

/// <summary>Builds tar layers entry by entry, with a fixed mtime so the bytes are reproducible.</summary>
public sealed class LayerBuilder
{
    public static readonly DateTimeOffset Mtime = new(2024, 1, 2, 3, 4, 5, TimeSpan.Zero);
    private const UnixFileMode DirMode = (UnixFileMode)0b111_101_101;
    private const UnixFileMode FileMode = (UnixFileMode)0b110_100_100;

    private readonly List<TarEntry> _entries = [];

    public LayerBuilder Dir(string name, UnixFileMode mode = DirMode) =>
        Add(new PaxTarEntry(TarEntryType.Directory, name) { Mode = mode });

    public LayerBuilder File(string name, string content, UnixFileMode mode = FileMode, int uid = 0, int gid = 0) =>
        File(name, Encoding.UTF8.GetBytes(content), mode, uid, gid);

    public LayerBuilder File(string name, byte[] content, UnixFileMode mode = FileMode, int uid = 0, int gid = 0) =>
        Add(new PaxTarEntry(TarEntryType.RegularFile, name) { Mode = mode, DataStream = new MemoryStream(content), Uid = uid, Gid = gid });

    public LayerBuilder Symlink(string name, string target) =>
        Add(new PaxTarEntry(TarEntryType.SymbolicLink, name) { LinkName = target, Mode = (UnixFileMode)0b111_111_111 });

    public LayerBuilder HardLink(string name, string target) =>
        Add(new PaxTarEntry(TarEntryType.HardLink, name) { LinkName = target, Mode = FileMode });

    public LayerBuilder Whiteout(string path)
    {
        var slash = path.LastIndexOf('/');
        var name = slash < 0 ? ".wh." + path : path[..(slash + 1)] + ".wh." + path[(slash + 1)..];
        return Add(new PaxTarEntry(TarEntryType.RegularFile, name) { Mode = FileMode });
    }

    public LayerBuilder Opaque(string dir) =>
        Add(new PaxTarEntry(TarEntryType.RegularFile, dir.TrimEnd('/') + "/.wh..wh..opq") { Mode = FileMode });

    public LayerBuilder Device(string name, TarEntryType type, int major = 1, int minor = 3) =>
        Add(new PaxTarEntry(type, name) { Mode = FileMode, DeviceMajor = major, DeviceMinor = minor });

    public LayerBuilder Fifo(string name) => Add(new PaxTarEntry(TarEntryType.Fifo, name) { Mode = FileMode });

    public byte[] Tar()
    {
        using var buffer = new MemoryStream();
        using (var writer = new TarWriter(buffer, TarEntryFormat.Pax, leaveOpen: true))
        {
            foreach (var entry in _entries)
            {
                entry.DataStream?.Seek(0, SeekOrigin.Begin);
                writer.WriteEntry(entry);
            }
        }
        return buffer.ToArray();
    }

    public byte[] TarGz() => Gzip(Tar());

    public static byte[] Gzip(byte[] data)
    {
        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.Fastest, leaveOpen: true))
            gzip.Write(data);
        return buffer.ToArray();
    }

    private LayerBuilder Add(PaxTarEntry entry)
    {
        entry.ModificationTime = Mtime;
        _entries.Add(entry);
        return this;
    }
}
