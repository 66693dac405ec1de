namespace Outpost.Disk;

/// <summary>
/// CRC-32 as used by GPT, zlib and Ethernet (reflected polynomial 0xEDB88320, initial and final
/// XOR 0xFFFFFFFF). Table-driven because System.IO.Hashing is not available here.
/// </summary>
public static class Crc32
{
    private static readonly uint[] Table = BuildTable();

    /// <summary>Computes the CRC-32 of <paramref name="data"/>.</summary>
    public static uint Compute(ReadOnlySpan<byte> data) => Append(0, data);

    /// <summary>
    /// Continues a CRC-32 over more data: <c>Append(Compute(a), b) == Compute(a + b)</c>.
    /// Start with 0 for an empty prefix.
    /// </summary>
    public static uint Append(uint crc, ReadOnlySpan<byte> data)
    {
        uint state = ~crc;
        foreach (byte b in data)
        {
            state = Table[(state ^ b) & 0xFF] ^ (state >> 8);
        }
        return ~state;
    }

    private static uint[] BuildTable()
    {
        var table = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            uint value = i;
            for (int bit = 0; bit < 8; bit++)
            {
                value = (value & 1) != 0 ? 0xEDB88320u ^ (value >> 1) : value >> 1;
            }
            table[i] = value;
        }
        return table;
    }
}
