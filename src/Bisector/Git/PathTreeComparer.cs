using LibGit2Sharp;

namespace Bisector.Git;

/// <summary>
/// Answers "do these two trees differ under the pathspec?" the way git's pruning diff does, but only reads the
/// subtrees the pathspec can reach: equal tree ids end a branch at once, literal path components are looked up by
/// name, and every tree read is cached by id because neighbouring commits share almost all of their trees.
/// </summary>
internal sealed class PathTreeComparer(Repository repo, Pathspec pathspec)
{
    internal readonly record struct Entry(string Name, ObjectId Id, bool IsTree, int Mode);

    private readonly Dictionary<(ObjectId Tree, string Dir), Entry[]> _allEntries = new();
    private readonly Dictionary<(ObjectId Tree, string Name), Entry?> _byName = new();
    private readonly Dictionary<ObjectId, Tree> _trees = new();
    private readonly Dictionary<string, IReadOnlyList<string>?> _childNames = new(StringComparer.Ordinal);
    private readonly Dictionary<string, bool> _mayMatch = new(StringComparer.Ordinal);
    private readonly Dictionary<string, bool> _matches = new(StringComparer.Ordinal);

    public int TreesRead => _trees.Count;

    /// <summary>True when no selected path differs between the two trees (git's REV_TREE_SAME).</summary>
    public bool Same(ObjectId parentTree, ObjectId tree) => !Differs(parentTree, tree, "");

    /// <summary>True when the tree holds no selected path (a root commit that does not touch the paths).</summary>
    public bool SameAsEmpty(ObjectId tree) => !Differs(null, tree, "");

    private bool Differs(ObjectId? a, ObjectId? b, string dir)
    {
        if (a == b) return false;
        var names = ChildNames(dir);
        if (names is not null)
        {
            foreach (var name in names)
                if (EntryDiffers(a is null ? null : Lookup(a, name), b is null ? null : Lookup(b, name), dir + name))
                    return true;
            return false;
        }

        // Pair entries by name; a file replaced by a directory of the same name is one pair that EntryDiffers splits.
        var left = a is null ? [] : Entries(a, dir);
        var right = b is null ? [] : Entries(b, dir);
        var rightByName = new Dictionary<string, Entry>(right.Length, StringComparer.Ordinal);
        foreach (var e in right) rightByName[e.Name] = e;
        foreach (var e in left)
        {
            Entry? r = rightByName.Remove(e.Name, out var found) ? found : null;
            if (r is { } same && same.Id == e.Id && same.Mode == e.Mode) continue;
            if (EntryDiffers(e, r, dir + e.Name)) return true;
        }
        foreach (var e in rightByName.Values)
            if (EntryDiffers(null, e, dir + e.Name)) return true;
        return false;
    }

    private bool EntryDiffers(Entry? a, Entry? b, string path)
    {
        if (a is null && b is null) return false;
        if (a is { } x && b is { } y && x.Id == y.Id && x.Mode == y.Mode) return false;

        var aTree = a is { IsTree: true } ? a.Value.Id : null;
        var bTree = b is { IsTree: true } ? b.Value.Id : null;
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

    private Tree GetTree(ObjectId id)
    {
        if (!_trees.TryGetValue(id, out var tree))
            _trees[id] = tree = repo.Lookup<Tree>(id)
                ?? throw new GitSelectionException($"tree {id.Sha} is missing from the repository",
                    "Fetch the full history (a partial or shallow clone lacks trees)");
        return tree;
    }

    private Entry? Lookup(ObjectId tree, string name)
    {
        if (_byName.TryGetValue((tree, name), out var cached)) return cached;
        var te = GetTree(tree)[name];
        Entry? e = te is null ? null : ToEntry(te);
        _byName[(tree, name)] = e;
        return e;
    }

    /// <summary>
    /// The entries of a tree that the pathspec can reach from <paramref name="dir"/>. Names are cheap to read;
    /// the target id is not (LibGit2Sharp builds an object for it), so it is read only for entries that matter.
    /// </summary>
    private Entry[] Entries(ObjectId tree, string dir)
    {
        if (_allEntries.TryGetValue((tree, dir), out var cached)) return cached;
        var list = new List<Entry>();
        foreach (var te in GetTree(tree))
        {
            var path = dir + te.Name;
            var relevant = te.TargetType == TreeEntryTargetType.Tree ? MayMatchUnder(path + "/") : Matches(path);
            if (relevant) list.Add(ToEntry(te));
        }
        var entries = list.ToArray();
        _allEntries[(tree, dir)] = entries;
        return entries;
    }

    private static Entry ToEntry(TreeEntry te) =>
        new(te.Name, te.Target.Id, te.TargetType == TreeEntryTargetType.Tree, (int)te.Mode);
}
