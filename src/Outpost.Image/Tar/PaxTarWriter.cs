using System.Globalization;
using System.Text;
using Outpost.Image.Rootfs;

namespace Outpost.Image.Tar;

/// <summary>
/// Writes a POSIX pax tar with full control over every byte (the BCL writer adds access/change times),
/// so the same tree always gives the same archive. Each entry gets linuxkit's PAX records
/// <c>LINUXKIT.source</c> and <c>LINUXKIT.location</c> when known.
/// </summary>
public sealed class PaxTarWriter(Stream output)
{
    private const int BlockSize = 512;
    private const long MaxUstarSize = 8L * 1024 * 1024 * 1024 - 1; // 11 octal digits
    private static readonly byte[] Zeros = new byte[BlockSize * 2];

    public async Task WriteTreeAsync(FsTree tree, CancellationToken cancellationToken)
    {
        foreach (var (path, entry) in tree.Enumerate())
        {
            cancellationToken.ThrowIfCancellationRequested();
            await WriteEntryAsync(path, entry, cancellationToken);
        }
        await output.WriteAsync(Zeros, cancellationToken);
    }

    public async Task WriteEntryAsync(string path, FsEntry entry, CancellationToken cancellationToken)
    {
        var name = entry.Type == FsEntryType.Directory ? path + "/" : path;
        var records = new List<(string Key, string Value)>();
        if (entry.Source is not null) records.Add(("LINUXKIT.source", entry.Source));
        if (entry.Location is not null) records.Add(("LINUXKIT.location", entry.Location));
        if (Encoding.UTF8.GetByteCount(name) > 100 || !IsAscii(name)) records.Add(("path", name));
        if (entry.LinkTarget is { } link && (Encoding.UTF8.GetByteCount(link) > 100 || !IsAscii(link))) records.Add(("linkpath", link));

        if (records.Count > 0)
        {
            var body = EncodePaxRecords(records);
            await output.WriteAsync(Header(PaxHeaderName(name), 'x', body.Length, 0, 0, 0, entry.MTime, null, 0, 0), cancellationToken);
            await WritePaddedAsync(body, cancellationToken);
        }
        var typeFlag = entry.Type switch
        {
            FsEntryType.File => '0',
            FsEntryType.Symlink => '2',
            FsEntryType.CharDevice => '3',
            FsEntryType.BlockDevice => '4',
            FsEntryType.Directory => '5',
            FsEntryType.Fifo => '6',
            _ => throw new InvalidOperationException($"unknown entry type {entry.Type}"),
        };
        var size = entry.Type == FsEntryType.File ? entry.Content.Length : 0;
        await output.WriteAsync(Header(name, typeFlag, size, entry.Mode, entry.Uid, entry.Gid, entry.MTime, entry.LinkTarget, entry.DevMajor, entry.DevMinor), cancellationToken);
        if (size > 0) await WritePaddedAsync(entry.Content, cancellationToken);
    }

    private async Task WritePaddedAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        await output.WriteAsync(data, cancellationToken);
        var padding = (BlockSize - data.Length % BlockSize) % BlockSize;
        if (padding > 0) await output.WriteAsync(Zeros.AsMemory(0, padding), cancellationToken);
    }

    private static byte[] EncodePaxRecords(IEnumerable<(string Key, string Value)> records)
    {
        var builder = new MemoryStream();
        foreach (var (key, value) in records)
        {
            // "LEN key=value\n" where LEN counts itself: grow until the digit count is stable.
            var payload = Encoding.UTF8.GetByteCount($" {key}={value}\n");
            var length = payload + 1;
            while (length.ToString(CultureInfo.InvariantCulture).Length + payload != length) length++;
            var bytes = Encoding.UTF8.GetBytes($"{length.ToString(CultureInfo.InvariantCulture)} {key}={value}\n");
            builder.Write(bytes);
        }
        return builder.ToArray();
    }

    private static string PaxHeaderName(string name)
    {
        var file = name.TrimEnd('/');
        file = file[(file.LastIndexOf('/') + 1)..];
        var pax = "PaxHeaders/" + file;
        return Truncate(pax, 100);
    }

    private static byte[] Header(string name, char typeFlag, long size, int mode, int uid, int gid, long mtime, string? link, int devMajor, int devMinor)
    {
        var header = new byte[BlockSize];
        var (prefix, shortName) = SplitName(name);
        WriteString(header, 0, 100, shortName);
        WriteOctal(header, 100, 8, mode);
        WriteOctal(header, 108, 8, uid);
        WriteOctal(header, 116, 8, gid);
        WriteOctal(header, 124, 12, Math.Min(size, MaxUstarSize));
        WriteOctal(header, 136, 12, Math.Max(0, mtime));
        header[156] = (byte)typeFlag;
        if (link is not null) WriteString(header, 157, 100, Truncate(link, 100));
        WriteString(header, 257, 6, "ustar");
        header[262] = 0;
        header[263] = (byte)'0';
        header[264] = (byte)'0';
        WriteOctal(header, 329, 8, devMajor);
        WriteOctal(header, 337, 8, devMinor);
        WriteString(header, 345, 155, prefix);
        // Checksum: sum of all bytes with the checksum field taken as spaces.
        for (var i = 148; i < 156; i++) header[i] = (byte)' ';
        var sum = header.Sum(b => (int)b);
        WriteOctal(header, 148, 7, sum);
        header[155] = (byte)' ';
        return header;
    }

    private static (string Prefix, string Name) SplitName(string name)
    {
        if (Encoding.UTF8.GetByteCount(name) <= 100 && IsAscii(name)) return ("", name);
        // Too long: the full name is in the PAX record; the ustar fields hold a best-effort split.
        var slash = name.LastIndexOf('/', Math.Min(name.Length - 2, 154));
        if (slash > 0 && name.Length - slash - 1 <= 100 && slash <= 155 && IsAscii(name))
            return (name[..slash], name[(slash + 1)..]);
        return ("", Truncate(name, 100));
    }

    private static string Truncate(string text, int bytes)
    {
        var ascii = new string(text.Select(c => c < 128 ? c : '_').ToArray());
        return ascii.Length <= bytes ? ascii : ascii[..bytes];
    }

    private static bool IsAscii(string text) => text.All(c => c < 128);

    private static void WriteString(byte[] header, int offset, int length, string value)
    {
        var bytes = Encoding.ASCII.GetBytes(value);
        Array.Copy(bytes, 0, header, offset, Math.Min(bytes.Length, length));
    }

    private static void WriteOctal(byte[] header, int offset, int length, long value)
    {
        var text = Convert.ToString(value, 8).PadLeft(length - 1, '0');
        WriteString(header, offset, length - 1, text);
        header[offset + length - 1] = 0;
    }
}
