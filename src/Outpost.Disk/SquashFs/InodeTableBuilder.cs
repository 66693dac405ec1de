using System.Buffers.Binary;

namespace Outpost.Disk.SquashFs;

/// <summary>
/// Writes the inode and directory tables. Directories are written bottom-up: a directory's
/// children get their inodes first, then its listing goes into the directory table, then its own
/// inode (which points at the listing). Inode numbers are assigned beforehand in the same order.
/// </summary>
internal sealed class InodeTableBuilder(IReadOnlyDictionary<uint, ushort> idIndex)
{
    private const ushort BasicDirectory = 1, BasicFile = 2, BasicSymlink = 3, BasicBlockDevice = 4, BasicCharDevice = 5, BasicFifo = 6, BasicSocket = 7;
    private const ushort ExtendedDirectory = 8, ExtendedFile = 9;
    private const int MaxEntriesPerHeader = 256;
    private const uint NoXattr = uint.MaxValue;

    public MetadataWriter Inodes { get; } = new();
    public MetadataWriter Directories { get; } = new();
    public uint InodeCount { get; private set; }

    /// <summary>Assigns inode numbers in write order (children before their directory; the root gets the last number).</summary>
    public void AssignNumbers(SquashFsNode directory)
    {
        foreach (var child in directory.SortedChildren)
        {
            if (child.IsDirectory)
            {
                AssignNumbers(child);
            }
            else
            {
                child.InodeNumber = ++InodeCount;
            }
        }
        directory.InodeNumber = ++InodeCount;
    }

    public void WriteTree(SquashFsNode directory)
    {
        foreach (var child in directory.SortedChildren)
        {
            if (child.IsDirectory)
            {
                WriteTree(child);
            }
            else
            {
                WriteLeafInode(child);
            }
        }
        WriteDirectory(directory);
    }

    private void WriteLeafInode(SquashFsNode node)
    {
        node.InodeReference = Inodes.Position;
        var e = node.Entry;
        switch (e.Type)
        {
            case SquashFsEntryType.File:
                WriteFileInode(node);
                break;
            case SquashFsEntryType.Symlink:
                var target = System.Text.Encoding.UTF8.GetBytes(e.LinkTarget!);
                var symlink = Common(node, BasicSymlink, 8 + target.Length);
                BinaryPrimitives.WriteUInt32LittleEndian(symlink.AsSpan(16), 1);
                BinaryPrimitives.WriteUInt32LittleEndian(symlink.AsSpan(20), (uint)target.Length);
                target.CopyTo(symlink, 24);
                Inodes.Write(symlink);
                break;
            case SquashFsEntryType.CharDevice or SquashFsEntryType.BlockDevice:
                var device = Common(node, e.Type == SquashFsEntryType.CharDevice ? BasicCharDevice : BasicBlockDevice, 8);
                BinaryPrimitives.WriteUInt32LittleEndian(device.AsSpan(16), 1);
                // Linux's "new" dev_t encoding, which the kernel and unsquashfs decode.
                uint rdev = (e.DeviceMinor & 0xFF) | (e.DeviceMajor << 8) | ((e.DeviceMinor & ~0xFFu) << 12);
                BinaryPrimitives.WriteUInt32LittleEndian(device.AsSpan(20), rdev);
                Inodes.Write(device);
                break;
            default:
                var ipc = Common(node, e.Type == SquashFsEntryType.Fifo ? BasicFifo : BasicSocket, 4);
                BinaryPrimitives.WriteUInt32LittleEndian(ipc.AsSpan(16), 1);
                Inodes.Write(ipc);
                break;
        }
    }

    private void WriteFileInode(SquashFsNode node)
    {
        int listBytes = node.BlockSizes.Count * 4;
        byte[] inode;
        int listOffset;
        if (node.BlocksStart <= uint.MaxValue && node.FileSize <= uint.MaxValue)
        {
            inode = Common(node, BasicFile, 16 + listBytes);
            BinaryPrimitives.WriteUInt32LittleEndian(inode.AsSpan(16), (uint)node.BlocksStart);
            BinaryPrimitives.WriteUInt32LittleEndian(inode.AsSpan(20), node.FragmentIndex);
            BinaryPrimitives.WriteUInt32LittleEndian(inode.AsSpan(24), node.FragmentOffset);
            BinaryPrimitives.WriteUInt32LittleEndian(inode.AsSpan(28), (uint)node.FileSize);
            listOffset = 32;
        }
        else
        {
            inode = Common(node, ExtendedFile, 40 + listBytes);
            BinaryPrimitives.WriteInt64LittleEndian(inode.AsSpan(16), node.BlocksStart);
            BinaryPrimitives.WriteInt64LittleEndian(inode.AsSpan(24), node.FileSize);
            BinaryPrimitives.WriteUInt64LittleEndian(inode.AsSpan(32), 0); // no sparse bytes
            BinaryPrimitives.WriteUInt32LittleEndian(inode.AsSpan(40), 1);
            BinaryPrimitives.WriteUInt32LittleEndian(inode.AsSpan(44), node.FragmentIndex);
            BinaryPrimitives.WriteUInt32LittleEndian(inode.AsSpan(48), node.FragmentOffset);
            BinaryPrimitives.WriteUInt32LittleEndian(inode.AsSpan(52), NoXattr);
            listOffset = 56;
        }
        for (int i = 0; i < node.BlockSizes.Count; i++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(inode.AsSpan(listOffset + i * 4), node.BlockSizes[i]);
        }
        Inodes.Write(inode);
    }

    private sealed record IndexEntry(uint ListingOffset, uint Block, byte[] FirstName);

    private void WriteDirectory(SquashFsNode directory)
    {
        var children = directory.SortedChildren.ToList();
        var listingStart = Directories.Position;
        uint listingSize = 0;
        var index = new List<IndexEntry>();
        long previousHeaderBlock = listingStart.Block;
        for (int first = 0; first < children.Count;)
        {
            var headChild = children[first];
            int count = 1;
            while (first + count < children.Count && count < MaxEntriesPerHeader
                && children[first + count].InodeReference.Block == headChild.InodeReference.Block
                && Math.Abs((long)children[first + count].InodeNumber - headChild.InodeNumber) <= short.MaxValue)
            {
                count++;
            }
            // The index lets the kernel skip straight to the header whose metadata block holds a name.
            var headerPosition = Directories.Position;
            if (headerPosition.Block != previousHeaderBlock)
            {
                index.Add(new IndexEntry(listingSize, (uint)headerPosition.Block, headChild.NameBytes));
                previousHeaderBlock = headerPosition.Block;
            }
            var header = new byte[12];
            BinaryPrimitives.WriteUInt32LittleEndian(header, (uint)(count - 1));
            BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(4), (uint)headChild.InodeReference.Block);
            BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(8), headChild.InodeNumber);
            Directories.Write(header);
            listingSize += 12;
            foreach (var child in children.Skip(first).Take(count))
            {
                var entry = new byte[8 + child.NameBytes.Length];
                BinaryPrimitives.WriteUInt16LittleEndian(entry, (ushort)child.InodeReference.Offset);
                BinaryPrimitives.WriteInt16LittleEndian(entry.AsSpan(2), (short)(child.InodeNumber - headChild.InodeNumber));
                BinaryPrimitives.WriteUInt16LittleEndian(entry.AsSpan(4), BasicType(child.Entry.Type));
                BinaryPrimitives.WriteUInt16LittleEndian(entry.AsSpan(6), (ushort)(child.NameBytes.Length - 1));
                child.NameBytes.CopyTo(entry, 8);
                Directories.Write(entry);
                listingSize += (uint)entry.Length;
            }
            first += count;
        }

        directory.InodeReference = Inodes.Position;
        // The stored size counts 3 extra bytes for the implicit "." and ".." entries.
        uint fileSize = listingSize + 3;
        uint linkCount = 2 + (uint)children.Count(c => c.IsDirectory);
        uint parentInode = directory.Parent?.InodeNumber ?? InodeCount + 1;
        if (fileSize <= ushort.MaxValue && index.Count == 0)
        {
            var inode = Common(directory, BasicDirectory, 16);
            BinaryPrimitives.WriteUInt32LittleEndian(inode.AsSpan(16), (uint)listingStart.Block);
            BinaryPrimitives.WriteUInt32LittleEndian(inode.AsSpan(20), linkCount);
            BinaryPrimitives.WriteUInt16LittleEndian(inode.AsSpan(24), (ushort)fileSize);
            BinaryPrimitives.WriteUInt16LittleEndian(inode.AsSpan(26), (ushort)listingStart.Offset);
            BinaryPrimitives.WriteUInt32LittleEndian(inode.AsSpan(28), parentInode);
            Inodes.Write(inode);
            return;
        }
        int indexBytes = index.Sum(i => 12 + i.FirstName.Length);
        var extended = Common(directory, ExtendedDirectory, 24 + indexBytes);
        BinaryPrimitives.WriteUInt32LittleEndian(extended.AsSpan(16), linkCount);
        BinaryPrimitives.WriteUInt32LittleEndian(extended.AsSpan(20), fileSize);
        BinaryPrimitives.WriteUInt32LittleEndian(extended.AsSpan(24), (uint)listingStart.Block);
        BinaryPrimitives.WriteUInt32LittleEndian(extended.AsSpan(28), parentInode);
        BinaryPrimitives.WriteUInt16LittleEndian(extended.AsSpan(32), (ushort)index.Count);
        BinaryPrimitives.WriteUInt16LittleEndian(extended.AsSpan(34), (ushort)listingStart.Offset);
        BinaryPrimitives.WriteUInt32LittleEndian(extended.AsSpan(36), NoXattr);
        int offset = 40;
        foreach (var entry in index)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(extended.AsSpan(offset), entry.ListingOffset);
            BinaryPrimitives.WriteUInt32LittleEndian(extended.AsSpan(offset + 4), entry.Block);
            BinaryPrimitives.WriteUInt32LittleEndian(extended.AsSpan(offset + 8), (uint)(entry.FirstName.Length - 1));
            entry.FirstName.CopyTo(extended, offset + 12);
            offset += 12 + entry.FirstName.Length;
        }
        Inodes.Write(extended);
    }

    /// <summary>Allocates an inode buffer and fills the 16-byte header common to all inode types.</summary>
    private byte[] Common(SquashFsNode node, ushort type, int bodyLength)
    {
        var inode = new byte[16 + bodyLength];
        var e = node.Entry;
        BinaryPrimitives.WriteUInt16LittleEndian(inode, type);
        BinaryPrimitives.WriteUInt16LittleEndian(inode.AsSpan(2), (ushort)e.Mode);
        BinaryPrimitives.WriteUInt16LittleEndian(inode.AsSpan(4), idIndex[e.Uid]);
        BinaryPrimitives.WriteUInt16LittleEndian(inode.AsSpan(6), idIndex[e.Gid]);
        BinaryPrimitives.WriteUInt32LittleEndian(inode.AsSpan(8), e.ModificationTime);
        BinaryPrimitives.WriteUInt32LittleEndian(inode.AsSpan(12), node.InodeNumber);
        return inode;
    }

    private static ushort BasicType(SquashFsEntryType type) => type switch
    {
        SquashFsEntryType.Directory => BasicDirectory,
        SquashFsEntryType.File => BasicFile,
        SquashFsEntryType.Symlink => BasicSymlink,
        SquashFsEntryType.BlockDevice => BasicBlockDevice,
        SquashFsEntryType.CharDevice => BasicCharDevice,
        SquashFsEntryType.Fifo => BasicFifo,
        _ => BasicSocket,
    };
}
