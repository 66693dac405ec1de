using System.Globalization;
using System.Text;
using Outpost.Image.Rootfs;

namespace Outpost.Image.Initramfs;

/// <summary>
/// Writes the "newc" cpio format the Linux kernel unpacks as an initramfs (070701 headers, 4-byte
/// alignment, TRAILER!!!). Inode numbers are assigned in order, so the output is deterministic.
/// </summary>
public sealed class CpioNewcWriter(Stream output)
{
    private int _nextInode = 1;

    public void WriteTree(FsTree tree)
    {
        foreach (var (path, entry) in tree.Enumerate()) WriteEntry(path, entry);
        WriteTrailer();
    }

    public void WriteEntry(string path, FsEntry entry)
    {
        var typeBits = entry.Type switch
        {
            FsEntryType.File => 0x8000,
            FsEntryType.Directory => 0x4000,
            FsEntryType.Symlink => 0xA000,
            FsEntryType.CharDevice => 0x2000,
            FsEntryType.BlockDevice => 0x6000,
            FsEntryType.Fifo => 0x1000,
            _ => throw new InvalidOperationException($"unknown entry type {entry.Type}"),
        };
        var data = entry.Type switch
        {
            FsEntryType.File => entry.Content,
            FsEntryType.Symlink => Encoding.UTF8.GetBytes(entry.LinkTarget ?? ""),
            _ => ReadOnlyMemory<byte>.Empty,
        };
        Write(path, typeBits | (entry.Mode & 0xFFF), entry.Uid, entry.Gid, entry.Type == FsEntryType.Directory ? 2 : 1,
            entry.MTime, data, entry.DevMajor, entry.DevMinor);
    }

    public void WriteTrailer() => Write("TRAILER!!!", 0, 0, 0, 1, 0, ReadOnlyMemory<byte>.Empty, 0, 0, inode: 0);

    private void Write(string name, int mode, int uid, int gid, int links, long mtime, ReadOnlyMemory<byte> data, int rdevMajor, int rdevMinor, int? inode = null)
    {
        var nameBytes = Encoding.UTF8.GetBytes(name + "\0");
        var header = new StringBuilder("070701");
        foreach (var field in new long[] { inode ?? _nextInode++, mode, uid, gid, links, mtime, data.Length, 0, 0, rdevMajor, rdevMinor, nameBytes.Length, 0 })
            header.Append(((uint)field).ToString("x8", CultureInfo.InvariantCulture));
        var headerBytes = Encoding.ASCII.GetBytes(header.ToString());
        output.Write(headerBytes);
        output.Write(nameBytes);
        Pad(headerBytes.Length + nameBytes.Length);
        output.Write(data.Span);
        Pad(data.Length);
    }

    private void Pad(long length)
    {
        var padding = (int)((4 - length % 4) % 4);
        if (padding > 0) output.Write(new byte[padding]);
    }
}
