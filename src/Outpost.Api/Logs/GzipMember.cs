using System.Buffers.Binary;
using System.IO.Compression;

namespace Outpost.Api.Logs;

/// <summary>
/// A single-member gzip file (RFC 1952) written and read by hand, because .NET's GZipStream can neither set
/// nor expose the header's MTIME, FNAME and FCOMMENT fields that newlogs uses for its metadata.
/// </summary>
internal static class GzipMember
{
    private const byte Id1 = 0x1F;
    private const byte Id2 = 0x8B;
    private const byte CompressionMethodDeflate = 8;
    private const byte FlagHeaderCrc = 0x02;
    private const byte FlagExtra = 0x04;
    private const byte FlagName = 0x08;
    private const byte FlagComment = 0x10;
    private const byte ReservedFlags = 0xE0;
    private const byte ExtraFlagsMaximumCompression = 2;
    private const byte OperatingSystemUnknown = 255;
    public const int TrailerLength = 8;

    /// <summary>Header bytes; <paramref name="name"/> and <paramref name="comment"/> are Latin-1 without the NUL.</summary>
    public static byte[] Header(uint modTime, byte[]? name, byte[]? comment)
    {
        var header = new List<byte>(10 + (name?.Length + 1 ?? 0) + (comment?.Length + 1 ?? 0))
        {
            Id1, Id2, CompressionMethodDeflate,
            (byte)((name is null ? 0 : FlagName) | (comment is null ? 0 : FlagComment)),
        };
        Span<byte> time = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(time, modTime);
        header.AddRange(time.ToArray());
        header.Add(ExtraFlagsMaximumCompression);
        header.Add(OperatingSystemUnknown);
        if (name is not null)
        {
            header.AddRange(name);
            header.Add(0);
        }

        if (comment is not null)
        {
            header.AddRange(comment);
            header.Add(0);
        }

        return [.. header];
    }

    /// <summary>Raw deflate of the concatenated chunks at the smallest size .NET offers.</summary>
    public static byte[] Deflate(IEnumerable<byte[]> chunks)
    {
        using var output = new MemoryStream();
        using (var deflate = new DeflateStream(output, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            foreach (var chunk in chunks)
            {
                deflate.Write(chunk);
            }
        }

        return output.ToArray();
    }

    public static byte[] Assemble(byte[] header, byte[] deflated, uint crc, long uncompressedLength)
    {
        var file = new byte[header.Length + deflated.Length + TrailerLength];
        header.CopyTo(file, 0);
        deflated.CopyTo(file, header.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(file.Length - 8), crc);
        // ISIZE is the uncompressed length modulo 2^32.
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(file.Length - 4), unchecked((uint)uncompressedLength));
        return file;
    }

    /// <summary>Parses, inflates and checks CRC and length of a single-member gzip file.</summary>
    public static (uint ModTime, byte[]? Name, byte[]? Comment, byte[] Content) Read(ReadOnlySpan<byte> file)
    {
        if (file.Length < 10 + TrailerLength || file[0] != Id1 || file[1] != Id2)
        {
            throw new NewLogsFormatException("Not a gzip file: the magic bytes 1f 8b are missing or the file is truncated.");
        }

        if (file[2] != CompressionMethodDeflate)
        {
            throw new NewLogsFormatException($"Unsupported gzip compression method {file[2]}; only deflate (8) exists.");
        }

        var flags = file[3];
        if ((flags & ReservedFlags) != 0)
        {
            throw new NewLogsFormatException($"gzip header has reserved flag bits set (0x{flags:X2}).");
        }

        var modTime = BinaryPrimitives.ReadUInt32LittleEndian(file[4..8]);
        var position = 10;
        if ((flags & FlagExtra) != 0)
        {
            RequireBytes(file, position, 2);
            position += 2 + BinaryPrimitives.ReadUInt16LittleEndian(file[position..]);
        }

        var name = (flags & FlagName) != 0 ? ReadZeroTerminated(file, ref position, "file name") : null;
        var comment = (flags & FlagComment) != 0 ? ReadZeroTerminated(file, ref position, "comment") : null;
        if ((flags & FlagHeaderCrc) != 0)
        {
            RequireBytes(file, position, 2);
            var expected = BinaryPrimitives.ReadUInt16LittleEndian(file[position..]);
            if ((ushort)Crc32.Compute(file[..position]) != expected)
            {
                throw new NewLogsFormatException("gzip header CRC does not match; the file is corrupted.");
            }

            position += 2;
        }

        RequireBytes(file, position, TrailerLength);
        var content = Inflate(file[position..^TrailerLength]);
        var crc = BinaryPrimitives.ReadUInt32LittleEndian(file[^8..]);
        var size = BinaryPrimitives.ReadUInt32LittleEndian(file[^4..]);
        if (Crc32.Compute(content) != crc)
        {
            throw new NewLogsFormatException("gzip CRC-32 does not match the decompressed data; the file is corrupted.");
        }

        if (unchecked((uint)content.Length) != size)
        {
            throw new NewLogsFormatException($"gzip ISIZE says {size} bytes but {content.Length} were decompressed.");
        }

        return (modTime, name, comment, content);
    }

    private static byte[] Inflate(ReadOnlySpan<byte> deflated)
    {
        try
        {
            using var input = new MemoryStream(deflated.ToArray(), writable: false);
            using var inflate = new DeflateStream(input, CompressionMode.Decompress);
            using var output = new MemoryStream();
            inflate.CopyTo(output);
            return output.ToArray();
        }
        catch (InvalidDataException e)
        {
            throw new NewLogsFormatException($"gzip body is not valid deflate data: {e.Message}", e);
        }
    }

    private static byte[] ReadZeroTerminated(ReadOnlySpan<byte> file, ref int position, string field)
    {
        var end = file[position..].IndexOf((byte)0);
        if (end < 0)
        {
            throw new NewLogsFormatException($"gzip header {field} is not zero-terminated.");
        }

        var value = file.Slice(position, end).ToArray();
        position += end + 1;
        return value;
    }

    private static void RequireBytes(ReadOnlySpan<byte> file, int position, int count)
    {
        if (position + count > file.Length)
        {
            throw new NewLogsFormatException("gzip file is truncated inside its header.");
        }
    }
}
