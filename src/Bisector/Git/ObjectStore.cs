using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.MemoryMappedFiles;
using System.Text;
using LibGit2Sharp;

namespace Bisector.Git;

/// <summary>
/// A SHA-1 object id as a value: equality and hashing without the hex string LibGit2Sharp's <see cref="ObjectId"/>
/// builds for every instance, which the walk would otherwise pay for every commit and tree entry it touches.
/// </summary>
internal readonly record struct Oid(ulong A, ulong B, uint C)
{
    public const int Size = 20;

    public static Oid From(ReadOnlySpan<byte> raw) =>
        new(BinaryPrimitives.ReadUInt64BigEndian(raw), BinaryPrimitives.ReadUInt64BigEndian(raw[8..]),
            BinaryPrimitives.ReadUInt32BigEndian(raw[16..]));

    public static Oid From(ObjectId id) => From(id.RawId);

    /// <summary>Parses 40 lowercase or uppercase hex digits (as found in commit headers).</summary>
    public static bool TryParseHex(ReadOnlySpan<byte> hex, out Oid oid)
    {
        oid = default;
        if (hex.Length < 2 * Size) return false;
        Span<byte> raw = stackalloc byte[Size];
        for (var i = 0; i < Size; i++)
        {
            int hi = HexValue(hex[2 * i]), lo = HexValue(hex[2 * i + 1]);
            if ((hi | lo) < 0) return false;
            raw[i] = (byte)((hi << 4) | lo);
        }
        oid = From(raw);
        return true;
    }

    private static int HexValue(byte c) => c switch
    {
        >= (byte)'0' and <= (byte)'9' => c - '0',
        >= (byte)'a' and <= (byte)'f' => c - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => c - 'A' + 10,
        _ => -1,
    };

    public void WriteTo(Span<byte> raw)
    {
        BinaryPrimitives.WriteUInt64BigEndian(raw, A);
        BinaryPrimitives.WriteUInt64BigEndian(raw[8..], B);
        BinaryPrimitives.WriteUInt32BigEndian(raw[16..], C);
    }

    public override string ToString()
    {
        Span<byte> raw = stackalloc byte[Size];
        WriteTo(raw);
        return Convert.ToHexStringLower(raw);
    }

    public ObjectId ToObjectId() => new(ToString());

    // Object ids are uniformly distributed, so a slice of the id is already a good hash.
    public override int GetHashCode() => (int)A;
}

/// <summary>What the walk needs from a commit: no message, no signatures.</summary>
internal sealed record CommitData(Oid Tree, Oid[] Parents, long CommitTime);

/// <summary>One tree entry with git's canonical mode (the one git's tree diff compares).</summary>
internal readonly record struct TreeItem(string Name, Oid Id, bool IsTree, int Mode);

/// <summary>
/// Reads commits and trees straight from the repository's pack files and loose objects, without LibGit2Sharp's
/// per-object wrappers and P/Invokes, which made the walk twice as slow as git. Anything it cannot read (an index
/// format it does not know, an object it cannot find) goes to LibGit2Sharp, so the result never depends on
/// which reader answered.
/// </summary>
internal sealed class ObjectStore : IDisposable
{
    private const int TypeCommit = 1, TypeTree = 2, TypeOfsDelta = 6, TypeRefDelta = 7;

    // Delta bases shared by neighbouring trees; git keeps 96 MiB for the same purpose.
    private const long BaseCacheBudget = 96L << 20;

    private readonly Repository _fallback;
    private readonly List<PackFile> _packs = [];
    private readonly List<string> _objectDirs = [];
    private readonly Dictionary<(PackFile Pack, long Offset), (int Type, byte[] Data)> _baseCache = new();
    private long _baseCacheBytes;

    public int ObjectsInflated { get; private set; }
    public int FallbackReads { get; private set; }
    public int DeltasApplied { get; private set; }

    public IReadOnlyList<string> ObjectDirectories => _objectDirs;

    public ObjectStore(Repository repo)
    {
        _fallback = repo;
        AddObjectDirectory(Path.Combine(repo.Info.Path, "objects"), depth: 0);
    }

    private void AddObjectDirectory(string dir, int depth)
    {
        dir = Path.GetFullPath(dir);
        if (depth > 5 || _objectDirs.Contains(dir) || !Directory.Exists(dir)) return;
        _objectDirs.Add(dir);
        var packDir = Path.Combine(dir, "pack");
        if (Directory.Exists(packDir))
            // Newest packs first, as git prefers them: recent objects live there.
            foreach (var idx in Directory.GetFiles(packDir, "*.idx").OrderByDescending(File.GetLastWriteTimeUtc))
                if (PackFile.TryOpen(idx) is { } pack)
                    _packs.Add(pack);
        var alternates = Path.Combine(dir, "info", "alternates");
        if (!File.Exists(alternates)) return;
        foreach (var raw in File.ReadAllLines(alternates))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            AddObjectDirectory(Path.IsPathRooted(line) ? line : Path.Combine(dir, line), depth + 1);
        }
    }

    public CommitData ReadCommit(Oid id)
    {
        if (TryRead(id) is ({ } data, TypeCommit))
            return ParseCommit(data);
        FallbackReads++;
        var c = _fallback.Lookup<LibGit2Sharp.Commit>(id.ToObjectId())
            ?? throw new GitSelectionException($"commit {id} is missing from the repository",
                "Fix: fetch the full history; a shallow or partial clone cannot be walked");
        return new CommitData(Oid.From(c.Tree.Id), c.Parents.Select(p => Oid.From(p.Id)).ToArray(),
            c.Committer.When.ToUnixTimeSeconds());
    }

    /// <summary>The raw body of a tree; walk it with <see cref="NextEntry"/> or search it with <see cref="FindInTree"/>.</summary>
    public byte[] ReadTree(Oid id)
    {
        if (TryRead(id) is ({ } data, TypeTree))
            return data;
        FallbackReads++;
        var tree = _fallback.Lookup<Tree>(id.ToObjectId())
            ?? throw new GitSelectionException($"tree {id} is missing from the repository",
                "Fix: fetch the full history (a partial or shallow clone lacks trees)");
        // Re-encode in git's tree format so both readers feed the same parser.
        using var ms = new MemoryStream();
        Span<byte> raw = stackalloc byte[Oid.Size];
        foreach (var e in tree)
        {
            ms.Write(Encoding.ASCII.GetBytes(Convert.ToString((int)e.Mode, 8) + " "));
            ms.Write(Encoding.UTF8.GetBytes(e.Name));
            ms.WriteByte(0);
            ms.Write(e.Target.Id.RawId);
        }
        return ms.ToArray();
    }

    internal static CommitData ParseCommit(ReadOnlySpan<byte> data)
    {
        Oid tree = default;
        var parents = new List<Oid>(2);
        long time = 0;
        while (data.Length > 0)
        {
            var nl = data.IndexOf((byte)'\n');
            var line = nl < 0 ? data : data[..nl];
            if (line.Length == 0) break; // end of headers
            if (line.StartsWith("tree "u8)) Oid.TryParseHex(line[5..], out tree);
            else if (line.StartsWith("parent "u8) && Oid.TryParseHex(line[7..], out var p)) parents.Add(p);
            else if (line.StartsWith("committer "u8))
            {
                // As git's parse_commit_date: the number after the last '>'; garbage reads as 0.
                var gt = line.LastIndexOf((byte)'>');
                var rest = gt < 0 ? [] : line[(gt + 1)..];
                while (rest.Length > 0 && rest[0] == (byte)' ') rest = rest[1..];
                long t = 0;
                foreach (var b in rest)
                {
                    if (b is < (byte)'0' or > (byte)'9') break;
                    t = t * 10 + (b - '0');
                }
                time = t;
            }
            data = nl < 0 ? [] : data[(nl + 1)..];
        }
        return new CommitData(tree, parents.ToArray(), time);
    }

    /// <summary>Finds one entry by name without decoding the others (tree lookups by literal path component).</summary>
    internal static TreeItem? FindInTree(ReadOnlySpan<byte> data, string name)
    {
        Span<byte> wanted = stackalloc byte[Encoding.UTF8.GetMaxByteCount(name.Length)];
        wanted = wanted[..Encoding.UTF8.GetBytes(name, wanted)];
        while (data.Length > 0)
        {
            var (mode, nul, next) = NextEntry(data);
            if (data[(data.IndexOf((byte)' ') + 1)..nul].SequenceEqual(wanted))
                return new TreeItem(name, Oid.From(data[(nul + 1)..]), (mode & 0xF000) == 0x4000, mode);
            data = data[next..];
        }
        return null;
    }

    /// <summary>
    /// git's order of tree entries (base_name_compare): byte order of the names, a directory sorting as if its name
    /// ended in '/'. Both spans start at an entry that <paramref name="l"/> and <paramref name="r"/> describe.
    /// </summary>
    internal static int CompareEntryNames(ReadOnlySpan<byte> left, (int Mode, int NameEnd, int Next) l,
        ReadOnlySpan<byte> right, (int Mode, int NameEnd, int Next) r)
    {
        var ln = left[(left.IndexOf((byte)' ') + 1)..l.NameEnd];
        var rn = right[(right.IndexOf((byte)' ') + 1)..r.NameEnd];
        var common = Math.Min(ln.Length, rn.Length);
        var cmp = ln[..common].SequenceCompareTo(rn[..common]);
        if (cmp != 0) return cmp;
        int lc = ln.Length > common ? ln[common] : (l.Mode & 0xF000) == 0x4000 ? '/' : 0;
        int rc = rn.Length > common ? rn[common] : (r.Mode & 0xF000) == 0x4000 ? '/' : 0;
        return lc.CompareTo(rc);
    }

    internal static TreeItem ItemAt(ReadOnlySpan<byte> data, (int Mode, int NameEnd, int Next) e) =>
        new(Encoding.UTF8.GetString(data[(data.IndexOf((byte)' ') + 1)..e.NameEnd]), Oid.From(data[(e.NameEnd + 1)..]),
            (e.Mode & 0xF000) == 0x4000, e.Mode);

    /// <summary>An entry is "mode name\0id": returns the canonical mode, where the name ends and where the next entry starts.</summary>
    internal static (int Mode, int NameEnd, int Next) NextEntry(ReadOnlySpan<byte> data)
    {
        var space = data.IndexOf((byte)' ');
        var nul = data.IndexOf((byte)0);
        if (space < 0 || nul < space || nul + 1 + Oid.Size > data.Length)
            throw new GitSelectionException("a tree object in the repository is corrupt",
                "Fix: run `git fsck` on the repository");
        var mode = 0;
        foreach (var b in data[..space]) mode = (mode << 3) | (b - '0');
        return (CanonicalMode(mode), nul, nul + 1 + Oid.Size);
    }

    /// <summary>git's canon_mode: diffs compare 100644/100755/120000/040000/160000, not the mode as written.</summary>
    private static int CanonicalMode(int mode) => (mode & 0xF000) switch
    {
        0x8000 => 0x8000 | ((mode & 0x40) != 0 ? 0x1ED : 0x1A4),
        0xA000 => 0xA000,
        0x4000 => 0x4000,
        _ => 0xE000,
    };

    private (byte[]? Data, int Type) TryRead(Oid id)
    {
        foreach (var pack in _packs)
            if (pack.Find(id) is long offset)
                return ReadPacked(pack, offset);
        return ReadLoose(id);
    }

    private (byte[]? Data, int Type) ReadLoose(Oid id)
    {
        var hex = id.ToString();
        foreach (var dir in _objectDirs)
        {
            var path = Path.Combine(dir, hex[..2], hex[2..]);
            if (!File.Exists(path)) continue;
            using var z = new ZLibStream(File.OpenRead(path), CompressionMode.Decompress);
            using var ms = new MemoryStream();
            z.CopyTo(ms);
            var all = ms.GetBuffer().AsSpan(0, (int)ms.Length);
            ObjectsInflated++;
            var nul = all.IndexOf((byte)0);
            if (nul < 0) return (null, 0);
            var header = all[..nul];
            var type = header.StartsWith("commit "u8) ? TypeCommit : header.StartsWith("tree "u8) ? TypeTree : 0;
            return (all[(nul + 1)..].ToArray(), type);
        }
        return (null, 0);
    }

    private (byte[]? Data, int Type) ReadPacked(PackFile pack, long offset)
    {
        // Follow the delta chain down to a base (or a cached object), then apply the deltas back up.
        var deltas = new Stack<(long Offset, byte[] Delta)>();
        int type;
        byte[] data;
        while (true)
        {
            if (_baseCache.TryGetValue((pack, offset), out var cached))
            {
                (type, data) = cached;
                break;
            }
            var (entryType, size, dataOffset, baseOffset, baseId) = pack.ReadHeader(offset);
            var body = pack.Inflate(dataOffset, size);
            ObjectsInflated++;
            if (entryType == TypeOfsDelta)
            {
                deltas.Push((offset, body));
                offset = baseOffset;
                continue;
            }
            if (entryType == TypeRefDelta)
            {
                deltas.Push((offset, body));
                var (baseData, baseType) = TryRead(baseId);
                if (baseData is null) return (null, 0);
                (type, data) = (baseType, baseData);
                break;
            }
            (type, data) = (entryType, body);
            if (deltas.Count > 0) Remember(pack, offset, type, data);
            break;
        }
        while (deltas.Count > 0)
        {
            var (deltaOffset, delta) = deltas.Pop();
            data = ApplyDelta(data, delta);
            DeltasApplied++;
            if (deltas.Count > 0) Remember(pack, deltaOffset, type, data);
        }
        return (data, type);
    }

    private void Remember(PackFile pack, long offset, int type, byte[] data)
    {
        if (_baseCacheBytes + data.Length > BaseCacheBudget)
        {
            _baseCache.Clear();
            _baseCacheBytes = 0;
        }
        if (_baseCache.TryAdd((pack, offset), (type, data)))
            _baseCacheBytes += data.Length;
    }

    internal static byte[] ApplyDelta(byte[] source, ReadOnlySpan<byte> delta)
    {
        var pos = 0;
        var sourceSize = ReadVarint(delta, ref pos);
        var targetSize = ReadVarint(delta, ref pos);
        if (sourceSize != source.Length)
            throw new GitSelectionException("a delta in a pack file does not fit its base object",
                "Fix: run `git fsck` on the repository");
        var target = GC.AllocateUninitializedArray<byte>(targetSize);
        var t = 0;
        while (pos < delta.Length)
        {
            var op = delta[pos++];
            if ((op & 0x80) != 0)
            {
                long copyOffset = 0;
                var copySize = 0;
                for (var i = 0; i < 4; i++)
                    if ((op & (1 << i)) != 0) copyOffset |= (long)delta[pos++] << (8 * i);
                for (var i = 0; i < 3; i++)
                    if ((op & (0x10 << i)) != 0) copySize |= delta[pos++] << (8 * i);
                if (copySize == 0) copySize = 0x10000;
                source.AsSpan((int)copyOffset, copySize).CopyTo(target.AsSpan(t));
                t += copySize;
            }
            else if (op != 0)
            {
                delta.Slice(pos, op).CopyTo(target.AsSpan(t));
                pos += op;
                t += op;
            }
            else
                throw new GitSelectionException("a delta in a pack file has an invalid instruction",
                    "Fix: run `git fsck` on the repository");
        }
        if (t != targetSize)
            throw new GitSelectionException("a delta in a pack file does not produce its stated size",
                "Fix: run `git fsck` on the repository");
        return target;
    }

    private static int ReadVarint(ReadOnlySpan<byte> data, ref int pos)
    {
        int value = 0, shift = 0;
        byte b;
        do
        {
            b = data[pos++];
            value |= (b & 0x7F) << shift;
            shift += 7;
        } while ((b & 0x80) != 0);
        return value;
    }

    public void Dispose()
    {
        foreach (var pack in _packs) pack.Dispose();
    }

    /// <summary>
    /// One <c>.pack</c> with its version-2 <c>.idx</c>. The index is read once; the pack is memory-mapped, as git
    /// does, because a system call per object (two with the header) cost as much as inflating it.
    /// </summary>
    private sealed class PackFile : IDisposable
    {
        private readonly byte[] _idx;
        private readonly int _count;
        private readonly MemoryMappedFile _map;
        private readonly MemoryMappedViewAccessor _view;
        private readonly long _packLength;

        private PackFile(byte[] idx, string packPath)
        {
            _idx = idx;
            _count = (int)BinaryPrimitives.ReadUInt32BigEndian(idx.AsSpan(8 + 255 * 4));
            _packLength = new FileInfo(packPath).Length;
            _map = MemoryMappedFile.CreateFromFile(packPath, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
            _view = _map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        }

        public static PackFile? TryOpen(string idxPath)
        {
            var packPath = Path.ChangeExtension(idxPath, ".pack");
            if (!File.Exists(packPath)) return null;
            var idx = File.ReadAllBytes(idxPath);
            // Only the v2 index (git ≥ 1.5.2 writes nothing else); anything else is read through LibGit2Sharp.
            if (idx.Length < 8 + 256 * 4 || !idx.AsSpan(0, 8).SequenceEqual((ReadOnlySpan<byte>)[0xFF, 0x74, 0x4F, 0x63, 0, 0, 0, 2]))
                return null;
            return new PackFile(idx, packPath);
        }

        public long? Find(Oid id)
        {
            Span<byte> raw = stackalloc byte[Oid.Size];
            id.WriteTo(raw);
            var fanout = _idx.AsSpan(8);
            int lo = raw[0] == 0 ? 0 : (int)BinaryPrimitives.ReadUInt32BigEndian(fanout[((raw[0] - 1) * 4)..]);
            int hi = (int)BinaryPrimitives.ReadUInt32BigEndian(fanout[(raw[0] * 4)..]);
            var names = _idx.AsSpan(8 + 256 * 4, _count * Oid.Size);
            while (lo < hi)
            {
                var mid = (lo + hi) >>> 1;
                var c = names.Slice(mid * Oid.Size, Oid.Size).SequenceCompareTo(raw);
                if (c == 0) return OffsetAt(mid);
                if (c < 0) lo = mid + 1;
                else hi = mid;
            }
            return null;
        }

        private long OffsetAt(int index)
        {
            var offsets = 8 + 256 * 4 + _count * (Oid.Size + 4);
            var small = BinaryPrimitives.ReadUInt32BigEndian(_idx.AsSpan(offsets + index * 4));
            if ((small & 0x80000000) == 0) return small;
            var large = offsets + _count * 4 + (int)(small & 0x7FFFFFFF) * 8;
            return (long)BinaryPrimitives.ReadUInt64BigEndian(_idx.AsSpan(large));
        }

        public (int Type, int Size, long DataOffset, long BaseOffset, Oid BaseId) ReadHeader(long offset)
        {
            Span<byte> h = stackalloc byte[32 + Oid.Size];
            h = h[..(int)Math.Min(h.Length, _packLength - offset)];
            _view.SafeMemoryMappedViewHandle.ReadSpan((ulong)(offset + _view.PointerOffset), h);
            var pos = 0;
            var b = h[pos++];
            var type = (b >> 4) & 7;
            long size = b & 0x0F;
            var shift = 4;
            while ((b & 0x80) != 0)
            {
                b = h[pos++];
                size |= (long)(b & 0x7F) << shift;
                shift += 7;
            }
            long baseOffset = 0;
            Oid baseId = default;
            if (type == TypeOfsDelta)
            {
                b = h[pos++];
                long rel = b & 0x7F;
                while ((b & 0x80) != 0)
                {
                    b = h[pos++];
                    rel = ((rel + 1) << 7) | (long)(b & 0x7F);
                }
                baseOffset = offset - rel;
            }
            else if (type == TypeRefDelta)
            {
                baseId = Oid.From(h.Slice(pos, Oid.Size));
                pos += Oid.Size;
            }
            return (type, checked((int)size), offset + pos, baseOffset, baseId);
        }

        public byte[] Inflate(long dataOffset, int size)
        {
            // deflate never grows data by more than a few bytes per 16 KiB block, so this bound holds the whole stream.
            var bound = Math.Min(_packLength - dataOffset, size + 5L * (size / 16000 + 1) + 64);
            // Uninitialized: inflate overwrites every byte, and zeroing ~1 GB of tree bodies over a full walk showed.
            var result = GC.AllocateUninitializedArray<byte>(size);
            using var input = new UnmanagedMemoryStream(_view.SafeMemoryMappedViewHandle, dataOffset + _view.PointerOffset, bound);
            using var z = new ZLibStream(input, CompressionMode.Decompress);
            z.ReadExactly(result);
            return result;
        }

        public void Dispose()
        {
            _view.Dispose();
            _map.Dispose();
        }
    }
}
