namespace Bisector.Git;

/// <summary>
/// Answers "do these two trees differ under the pathspec?" the way git's pruning diff does, but only reads the
/// subtrees the pathspec can reach: equal tree ids end a branch at once, literal path components are looked up by
/// name, and every tree read is cached by id because neighbouring commits share almost all of their trees.
/// </summary>
internal sealed class PathTreeComparer(ObjectStore store, Pathspec pathspec)
{
    // Trees are read at most a few times each (as a commit's tree, then as its child's parent tree); a bounded
    // cache of raw bodies covers that without holding the whole history in memory.
    private const int RawTreeCacheSize = 4096;

    private readonly Dictionary<(Oid Tree, string Name), TreeItem?> _byName = new();
    private readonly Dictionary<Oid, byte[]> _rawTrees = new();
    private readonly Dictionary<string, IReadOnlyList<string>?> _childNames = new(StringComparer.Ordinal);
    private readonly Dictionary<string, bool> _mayMatch = new(StringComparer.Ordinal);
    private readonly Dictionary<string, bool> _matches = new(StringComparer.Ordinal);

    public int TreesRead { get; private set; }

    /// <summary>True when no selected path differs between the two trees (git's REV_TREE_SAME).</summary>
    public bool Same(Oid parentTree, Oid tree) => !Differs(parentTree, tree, "");

    /// <summary>True when the tree holds no selected path (a root commit that does not touch the paths).</summary>
    public bool SameAsEmpty(Oid tree) => !Differs(null, tree, "");

    private bool Differs(Oid? a, Oid? b, string dir)
    {
        if (a == b) return false;
        var names = ChildNames(dir);
        if (names is not null)
        {
            foreach (var name in names)
                if (EntryDiffers(a is { } ta ? Lookup(ta, name) : null, b is { } tb ? Lookup(tb, name) : null, dir + name))
                    return true;
            return false;
        }

        // Walk both trees in git's tree order, as git's tree diff does: byte-identical entries (most of them) are
        // skipped without decoding their names; a file replaced by a directory of the same name is a deletion plus
        // an addition, as in git.
        var left = a is { } la ? RawTree(la) : [];
        var right = b is { } rb ? RawTree(rb) : [];
        int i = 0, j = 0;
        while (i < left.Length || j < right.Length)
        {
            if (i < left.Length && j < right.Length)
            {
                var l = ObjectStore.NextEntry(left.AsSpan(i));
                var r = ObjectStore.NextEntry(right.AsSpan(j));
                if (left.AsSpan(i, l.Next).SequenceEqual(right.AsSpan(j, r.Next)))
                {
                    i += l.Next;
                    j += r.Next;
                    continue;
                }
                var cmp = ObjectStore.CompareEntryNames(left.AsSpan(i), l, right.AsSpan(j), r);
                if (cmp == 0)
                {
                    var le = ObjectStore.ItemAt(left.AsSpan(i), l);
                    if (EntryDiffers(le, ObjectStore.ItemAt(right.AsSpan(j), r), dir + le.Name)) return true;
                    i += l.Next;
                    j += r.Next;
                }
                else if (cmp < 0)
                {
                    var le = ObjectStore.ItemAt(left.AsSpan(i), l);
                    if (EntryDiffers(le, null, dir + le.Name)) return true;
                    i += l.Next;
                }
                else
                {
                    var re = ObjectStore.ItemAt(right.AsSpan(j), r);
                    if (EntryDiffers(null, re, dir + re.Name)) return true;
                    j += r.Next;
                }
            }
            else if (i < left.Length)
            {
                var l = ObjectStore.NextEntry(left.AsSpan(i));
                var le = ObjectStore.ItemAt(left.AsSpan(i), l);
                if (EntryDiffers(le, null, dir + le.Name)) return true;
                i += l.Next;
            }
            else
            {
                var r = ObjectStore.NextEntry(right.AsSpan(j));
                var re = ObjectStore.ItemAt(right.AsSpan(j), r);
                if (EntryDiffers(null, re, dir + re.Name)) return true;
                j += r.Next;
            }
        }
        return false;
    }

    private bool EntryDiffers(TreeItem? a, TreeItem? b, string path)
    {
        if (a is null && b is null) return false;
        if (a is { } x && b is { } y && x.Id == y.Id && x.Mode == y.Mode) return false;

        Oid? aTree = a is { IsTree: true } ? a.Value.Id : null;
        Oid? bTree = b is { IsTree: true } ? b.Value.Id : null;
        if ((aTree is not null || bTree is not null) && MayMatchUnder(path + "/") && Differs(aTree, bTree, path + "/"))
            return true;

        var aLeaf = a is { IsTree: false } ? a : null;
        var bLeaf = b is { IsTree: false } ? b : null;
        if (aLeaf is null && bLeaf is null) return false;
        if (aLeaf is { } la && bLeaf is { } lb && la.Id == lb.Id && la.Mode == lb.Mode) return false;
        return Matches(path);
    }

    private bool Matches(string path)
    {
        if (!_matches.TryGetValue(path, out var m))
            _matches[path] = m = pathspec.Matches(path);
        return m;
    }

    private bool MayMatchUnder(string dir)
    {
        if (!_mayMatch.TryGetValue(dir, out var m))
            _mayMatch[dir] = m = pathspec.MayMatchUnder(dir);
        return m;
    }

    private IReadOnlyList<string>? ChildNames(string dir)
    {
        if (!_childNames.TryGetValue(dir, out var names))
            _childNames[dir] = names = pathspec.ChildNamesUnder(dir);
        return names;
    }

    private byte[] RawTree(Oid id)
    {
        if (_rawTrees.TryGetValue(id, out var raw)) return raw;
        if (_rawTrees.Count >= RawTreeCacheSize) _rawTrees.Clear();
        TreesRead++;
        return _rawTrees[id] = store.ReadTree(id);
    }

    private TreeItem? Lookup(Oid tree, string name)
    {
        if (_byName.TryGetValue((tree, name), out var cached)) return cached;
        var e = ObjectStore.FindInTree(RawTree(tree), name);
        _byName[(tree, name)] = e;
        return e;
    }
}
