using System.Buffers.Binary;
using System.Text;

namespace Bisector.Git;

/// <summary>
/// git's commit-graph file (<c>objects/info/commit-graph</c>, gitformat-commit-graph(5)): parents, root tree and
/// commit date of every commit it holds, without inflating a commit; and, when written with
/// <c>--changed-paths</c>, a Bloom filter per commit of the paths it changed against its first parent, which lets
/// the walk skip the tree diff of most commits. Only the single-file form is read (not a split chain); commits
/// it does not hold are read from the object store.
/// </summary>
internal sealed class CommitGraph
{
    private const uint NoParent = 0x70000000, ExtraEdges = 0x80000000;

    private readonly byte[] _file;
    private readonly int _count;
    private readonly int _fanout, _lookup, _data, _edges = -1, _bloomIndex = -1, _bloomData = -1;
    private readonly int _bloomHashes, _bloomVersion;

    public bool HasBloomFilters => _bloomIndex >= 0;

    private CommitGraph(byte[] file)
    {
        _file = file;
        var chunks = file[6];
        for (var i = 0; i < chunks; i++)
        {
            var entry = file.AsSpan(8 + i * 12, 12);
            var offset = checked((int)BinaryPrimitives.ReadUInt64BigEndian(entry[4..]));
            switch (Encoding.ASCII.GetString(entry[..4]))
            {
                case "OIDF": _fanout = offset; break;
                case "OIDL": _lookup = offset; break;
                case "CDAT": _data = offset; break;
                case "EDGE": _edges = offset; break;
                case "BIDX": _bloomIndex = offset; break;
                case "BDAT": _bloomData = offset; break;
            }
        }
        _count = (int)BinaryPrimitives.ReadUInt32BigEndian(file.AsSpan(_fanout + 255 * 4));
        if (_bloomIndex < 0 || _bloomData < 0)
        {
            _bloomIndex = _bloomData = -1;
            return;
        }
        _bloomVersion = (int)BinaryPrimitives.ReadUInt32BigEndian(file.AsSpan(_bloomData));
        _bloomHashes = (int)BinaryPrimitives.ReadUInt32BigEndian(file.AsSpan(_bloomData + 4));
        // Only the murmur3 filters git has written so far (version 1, and 2 since git 2.42).
        if (_bloomVersion is not (1 or 2) || _bloomHashes is < 1 or > 32) _bloomIndex = _bloomData = -1;
    }

    /// <summary>
    /// The commit-graph of the first object directory that has one, or null. git ignores the file in a shallow
    /// clone or with grafts because it then disagrees with the commits' parents; so does this.
    /// </summary>
    public static CommitGraph? TryOpen(string gitDir, IReadOnlyList<string> objectDirs)
    {
        if (File.Exists(Path.Combine(gitDir, "shallow")) || File.Exists(Path.Combine(gitDir, "info", "grafts")))
            return null;
        foreach (var dir in objectDirs)
        {
            var path = Path.Combine(dir, "info", "commit-graph");
            if (!File.Exists(path)) continue;
            var file = File.ReadAllBytes(path);
            // "CGPH", version 1, SHA-1, no base graphs: anything else is a format this reader does not know.
            if (file.Length < 8 || !file.AsSpan(0, 4).SequenceEqual("CGPH"u8) || file[4] != 1 || file[5] != 1 || file[7] != 0)
                continue;
            var graph = new CommitGraph(file);
            if (graph._fanout > 0 && graph._lookup > 0 && graph._data > 0) return graph;
        }
        return null;
    }

    /// <summary>The position of a commit in the graph, or -1 when the graph does not hold it.</summary>
    public int Find(Oid id)
    {
        Span<byte> raw = stackalloc byte[Oid.Size];
        id.WriteTo(raw);
        var fanout = _file.AsSpan(_fanout);
        int lo = raw[0] == 0 ? 0 : (int)BinaryPrimitives.ReadUInt32BigEndian(fanout[((raw[0] - 1) * 4)..]);
        int hi = (int)BinaryPrimitives.ReadUInt32BigEndian(fanout[(raw[0] * 4)..]);
        var names = _file.AsSpan(_lookup, _count * Oid.Size);
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            var c = names.Slice(mid * Oid.Size, Oid.Size).SequenceCompareTo(raw);
            if (c == 0) return mid;
            if (c < 0) lo = mid + 1;
            else hi = mid;
        }
        return -1;
    }

    public CommitData Read(int position)
    {
        var row = _file.AsSpan(_data + position * (Oid.Size + 16), Oid.Size + 16);
        var tree = Oid.From(row);
        var p1 = BinaryPrimitives.ReadUInt32BigEndian(row[20..]);
        var p2 = BinaryPrimitives.ReadUInt32BigEndian(row[24..]);
        // The top 30 bits of the date word are the generation number; the commit time is the low 34 bits.
        var time = ((long)(BinaryPrimitives.ReadUInt32BigEndian(row[28..]) & 3) << 32) | BinaryPrimitives.ReadUInt32BigEndian(row[32..]);
        Oid[] parents;
        if (p1 == NoParent) parents = [];
        else if (p2 == NoParent) parents = [OidAt(p1)];
        else if ((p2 & ExtraEdges) == 0) parents = [OidAt(p1), OidAt(p2)];
        else
        {
            // An octopus: the second and later parents are a list in EDGE, whose last entry has the top bit set.
            var list = new List<Oid> { OidAt(p1) };
            var edge = _edges + (int)(p2 & ~ExtraEdges) * 4;
            while (true)
            {
                var e = BinaryPrimitives.ReadUInt32BigEndian(_file.AsSpan(edge));
                list.Add(OidAt(e & ~ExtraEdges));
                if ((e & ExtraEdges) != 0) break;
                edge += 4;
            }
            parents = list.ToArray();
        }
        return new CommitData(tree, parents, time);
    }

    private Oid OidAt(uint position) => Oid.From(_file.AsSpan(_lookup + (int)position * Oid.Size, Oid.Size));

    /// <summary>
    /// False only when the commit's Bloom filter proves that none of <paramref name="keys"/> changed against its
    /// first parent; true when it may have (or there is no usable filter). Filters have false positives, never
    /// false negatives, so "false" is as good as a tree diff that found nothing.
    /// </summary>
    public bool MayHaveChanged(int position, IReadOnlyList<BloomKey> keys)
    {
        if (!HasBloomFilters) return true;
        var idx = _file.AsSpan(_bloomIndex);
        var start = position == 0 ? 0 : (int)BinaryPrimitives.ReadUInt32BigEndian(idx[((position - 1) * 4)..]);
        var end = (int)BinaryPrimitives.ReadUInt32BigEndian(idx[(position * 4)..]);
        var filter = _file.AsSpan(_bloomData + 12 + start, end - start);
        if (filter.Length == 0) return true; // git: an empty filter means "not computed"
        var bits = (ulong)filter.Length * 8;
        foreach (var key in keys)
        {
            var (h0, h1) = _bloomVersion == 1 ? (key.V1Seed0, key.V1Seed1) : (key.V2Seed0, key.V2Seed1);
            var present = true;
            for (var i = 0; i < _bloomHashes && present; i++)
            {
                var bit = (uint)(h0 + (uint)i * h1) % bits;
                present = (filter[(int)(bit / 8)] & (1 << (int)(bit % 8))) != 0;
            }
            if (present) return true;
        }
        return false;
    }
}

/// <summary>A path hashed the way git's changed-path Bloom filters hash it (murmur3 with git's two seeds).</summary>
internal sealed class BloomKey
{
    public uint V1Seed0 { get; }
    public uint V1Seed1 { get; }
    public uint V2Seed0 { get; }
    public uint V2Seed1 { get; }

    public BloomKey(string path)
    {
        var bytes = Encoding.UTF8.GetBytes(path);
        // Version 1 filters (git < 2.42) hashed bytes as signed chars; it only matters for non-ASCII paths.
        V1Seed0 = Murmur3(bytes, 0x293ae76f, signedBytes: true);
        V1Seed1 = Murmur3(bytes, 0x7e646e2c, signedBytes: true);
        V2Seed0 = Murmur3(bytes, 0x293ae76f, signedBytes: false);
        V2Seed1 = Murmur3(bytes, 0x7e646e2c, signedBytes: false);
    }

    internal static uint Murmur3(byte[] data, uint seed, bool signedBytes)
    {
        const uint c1 = 0xcc9e2d51, c2 = 0x1b873593;
        var h = seed;
        uint Byte(int i) => signedBytes ? (uint)(sbyte)data[i] : data[i];
        var blocks = data.Length / 4;
        for (var i = 0; i < blocks; i++)
        {
            var k = Byte(4 * i) | (Byte(4 * i + 1) << 8) | (Byte(4 * i + 2) << 16) | (Byte(4 * i + 3) << 24);
            k *= c1;
            k = uint.RotateLeft(k, 15);
            k *= c2;
            h ^= k;
            h = uint.RotateLeft(h, 13);
            h = h * 5 + 0xe6546b64;
        }
        uint k1 = 0;
        var tail = blocks * 4;
        switch (data.Length & 3)
        {
            case 3: k1 ^= Byte(tail + 2) << 16; goto case 2;
            case 2: k1 ^= Byte(tail + 1) << 8; goto case 1;
            case 1:
                k1 ^= Byte(tail);
                k1 *= c1;
                k1 = uint.RotateLeft(k1, 15);
                k1 *= c2;
                h ^= k1;
                break;
        }
        h ^= (uint)data.Length;
        h ^= h >> 16;
        h *= 0x85ebca6b;
        h ^= h >> 13;
        h *= 0xc2b2ae35;
        h ^= h >> 16;
        return h;
    }
}
