namespace Bisector.Git;

/// <summary>
/// git's revision walk for <c>git log [--first-parent] [--no-merges] ^A B -- paths</c> in the default history
/// simplification mode, replayed over LibGit2Sharp objects. Parity with git is the requirement, so this follows
/// the structure of git's revision.c (limit_list, process_parents, try_to_simplify_commit, get_commit_action)
/// rather than a textbook reachability: which merges git drops depends on which parents are already known to be
/// UNINTERESTING when the merge is reached, and that depends on the committer-date order of the walk.
/// </summary>
internal sealed class HistoryWalk
{
    [Flags]
    private enum Mark
    {
        None = 0,
        Uninteresting = 1,
        Seen = 2,
        Added = 4,
        TreeSame = 8,
        Bottom = 16,
    }

    private sealed class Node(Oid id)
    {
        public readonly Oid Id = id;
        public Mark Flags;
        public bool Parsed;
        public long Date;
        public Oid Tree;
        /// <summary>Position in the commit-graph, or -1: where this commit's changed-path Bloom filter is.</summary>
        public int GraphPosition = -1;
        /// <summary>Rewritten by simplification: a merge TREESAME to one relevant parent keeps only that parent.</summary>
        public List<Node> Parents = [];
    }

    // git's "slop": how many more uninteresting commits to dig through once only uninteresting ones are queued.
    private const int Slop = 5;

    private readonly ObjectStore _store;
    private readonly CommitGraph? _graph;
    private readonly PathTreeComparer? _trees;
    private readonly IReadOnlyList<BloomKey>? _bloomKeys;
    private readonly bool _firstParent;
    private readonly bool _noMerges;
    private readonly Dictionary<Oid, Node> _nodes = new();
    private readonly SortedSet<(long NegDate, long Seq, Node Node)> _queue = new(QueueOrder.Instance);
    private long _seq;

    public int CommitsParsed { get; private set; }
    public int TreesRead => _trees?.TreesRead ?? 0;

    public int BloomSkips { get; private set; }

    public HistoryWalk(ObjectStore store, CommitGraph? graph, Pathspec pathspec, bool firstParent, bool noMerges)
    {
        _store = store;
        _graph = graph;
        _trees = pathspec.IsEmpty ? null : new PathTreeComparer(store, pathspec);
        _bloomKeys = graph is { HasBloomFilters: true } && !pathspec.IsEmpty ? BloomKeysFor(pathspec) : null;
        _firstParent = firstParent;
        _noMerges = noMerges;
    }

    /// <summary>
    /// Runs the walk. <paramref name="tips"/> are in command-line order, each with whether it was negated (^A or the
    /// A of A..B). Returns the selected commits in git log order (newest first).
    /// </summary>
    public IReadOnlyList<Oid> Run(IReadOnlyList<(Oid Id, bool Exclude)> tips, CancellationToken ct = default)
    {
        // prepare_revision_walk: handle_commit for every tip, then the start list sorted by date (stable).
        var start = new List<Node>();
        foreach (var (id, exclude) in tips)
        {
            var n = Get(id);
            Parse(n);
            if (exclude)
            {
                n.Flags |= Mark.Uninteresting | Mark.Bottom;
                MarkParentsUninteresting(n);
            }
            if ((n.Flags & Mark.Seen) == 0)
            {
                n.Flags |= Mark.Seen;
                start.Add(n);
            }
        }
        foreach (var n in start.OrderByDescending(n => n.Date))
            Enqueue(n);

        var newList = TopologicalOrder(LimitList(ct));

        var result = new List<Oid>();
        foreach (var c in newList)
        {
            // get_commit_action: flags are read now, after the whole walk, as git does.
            if ((c.Flags & Mark.Uninteresting) != 0) continue;
            if (_noMerges && c.Parents.Count > 1) continue;
            if (_trees is not null && (c.Flags & Mark.TreeSame) != 0) continue;
            result.Add(c.Id);
        }
        return result;
    }

    private List<Node> LimitList(CancellationToken ct)
    {
        var slop = Slop;
        var date = long.MaxValue;
        Node? interestingCache = null;
        var newList = new List<Node>();
        while (_queue.Count > 0)
        {
            ct.ThrowIfCancellationRequested();
            var commit = Pop();
            if (commit == interestingCache) interestingCache = null;
            ProcessParents(commit);
            if ((commit.Flags & Mark.Uninteresting) != 0)
            {
                MarkParentsUninteresting(commit);
                slop = StillInteresting(date, slop, ref interestingCache);
                if (slop > 0) continue;
                break;
            }
            date = commit.Date;
            newList.Add(commit);
        }
        return newList;
    }

    /// <summary>
    /// git's default order is by committer date, which puts a child after its parent when a clock was wrong.
    /// Bisection needs ancestors first, so reorder only where the date order breaks the ancestry: a Kahn sort
    /// that always takes the earliest-listed ready commit returns git's order untouched when it is already valid.
    /// </summary>
    private static List<Node> TopologicalOrder(List<Node> list)
    {
        var position = new Dictionary<Node, int>(list.Count);
        for (var i = 0; i < list.Count; i++) position[list[i]] = i;
        var children = new int[list.Count];
        foreach (var n in list)
            foreach (var p in n.Parents)
                if (position.TryGetValue(p, out var pi)) children[pi]++;

        var ready = new PriorityQueue<Node, int>();
        for (var i = 0; i < list.Count; i++)
            if (children[i] == 0) ready.Enqueue(list[i], i);
        var result = new List<Node>(list.Count);
        while (ready.TryDequeue(out var n, out _))
        {
            result.Add(n);
            foreach (var p in n.Parents)
                if (position.TryGetValue(p, out var pi) && --children[pi] == 0)
                    ready.Enqueue(p, pi);
        }
        return result;
    }

    private int StillInteresting(long date, int slop, ref Node? interestingCache)
    {
        if (_queue.Count == 0) return 0;
        if (date <= _queue.Min.Node.Date) return Slop;
        if (!EverybodyUninteresting(ref interestingCache)) return Slop;
        return slop - 1;
    }

    private bool EverybodyUninteresting(ref Node? interestingCache)
    {
        if (interestingCache is { } cached && (cached.Flags & Mark.Uninteresting) == 0) return false;
        foreach (var (_, _, node) in _queue)
        {
            if ((node.Flags & Mark.Uninteresting) != 0) continue;
            interestingCache = node;
            return false;
        }
        return true;
    }

    private void ProcessParents(Node commit)
    {
        if ((commit.Flags & Mark.Added) != 0) return;
        commit.Flags |= Mark.Added;

        if ((commit.Flags & Mark.Uninteresting) != 0)
        {
            // Keep the uninteresting set maximal: no pruning on this side.
            foreach (var p in commit.Parents.ToArray())
            {
                p.Flags |= Mark.Uninteresting;
                Parse(p);
                if (p.Parents.Count > 0) MarkParentsUninteresting(p);
                if ((p.Flags & Mark.Seen) != 0) continue;
                p.Flags |= Mark.Seen;
                Enqueue(p);
            }
            return;
        }

        TryToSimplify(commit);

        foreach (var p in commit.Parents)
        {
            Parse(p);
            if ((p.Flags & Mark.Seen) == 0)
            {
                p.Flags |= Mark.Seen;
                Enqueue(p);
            }
            if (_firstParent) break;
        }
    }

    private static bool Relevant(Node n) => (n.Flags & (Mark.Uninteresting | Mark.Bottom)) != Mark.Uninteresting;

    private void TryToSimplify(Node commit)
    {
        if (_trees is null) return;
        if (commit.Parents.Count == 0)
        {
            if (_trees.SameAsEmpty(commit.Tree)) commit.Flags |= Mark.TreeSame;
            return;
        }

        int relevantParents = 0;
        bool relevantChange = false, irrelevantChange = false;
        for (var nth = 0; nth < commit.Parents.Count; nth++)
        {
            var p = commit.Parents[nth];
            if (Relevant(p)) relevantParents++;
            // With --first-parent a merge is judged against its first parent only, so a side branch that brought
            // the whole change cannot derail the walk.
            if (nth == 1 && _firstParent) break;
            Parse(p);
            if (SameAsParent(commit, nth, p))
            {
                // A merge TREESAME to an uninteresting side branch must not lose its other parents.
                if (!Relevant(p)) continue;
                commit.Parents = [p];
                commit.Flags |= Mark.TreeSame;
                return;
            }
            if (Relevant(p)) relevantChange = true;
            else irrelevantChange = true;
        }

        // Irrelevant parents cannot make a merge !TREESAME when it has relevant ones.
        if (relevantParents > 0 ? !relevantChange : !irrelevantChange)
            commit.Flags |= Mark.TreeSame;
    }

    private static void MarkParentsUninteresting(Node commit)
    {
        // Only already-parsed commits carry their parents further, exactly as in git.
        var pending = new Stack<Node>();
        foreach (var p in commit.Parents) MarkOne(p, pending);
        while (pending.Count > 0) MarkOne(pending.Pop(), pending);

        static void MarkOne(Node n, Stack<Node> pending)
        {
            if ((n.Flags & Mark.Uninteresting) != 0) return;
            n.Flags |= Mark.Uninteresting;
            foreach (var p in n.Parents) pending.Push(p);
        }
    }

    private bool SameAsParent(Node commit, int nth, Node parent)
    {
        // A commit's Bloom filter holds every path it changed against its first parent (and their directories),
        // so "none of the pathspec's directories is in it" settles TREESAME without a tree diff, as in git.
        if (nth == 0 && _bloomKeys is not null && commit.GraphPosition >= 0 &&
            !_graph!.MayHaveChanged(commit.GraphPosition, _bloomKeys))
        {
            BloomSkips++;
            return true;
        }
        return _trees!.Same(parent.Tree, commit.Tree);
    }

    /// <summary>
    /// One key per positive pathspec item: the longest leading directory (or the literal path itself) that every
    /// path it can match lies under. Null when some item can match anywhere (e.g. '*.c'), or ignores case: then a
    /// filter cannot prove anything.
    /// </summary>
    private static IReadOnlyList<BloomKey>? BloomKeysFor(Pathspec pathspec)
    {
        if (pathspec.Positive.Count == 0) return null;
        var keys = new List<BloomKey>();
        foreach (var item in pathspec.Positive)
        {
            if (item.IgnoreCase) return null;
            var path = item.Match[..item.NoWildcardLength];
            if (item.HasWildcard)
            {
                var slash = path.LastIndexOf('/');
                path = slash < 0 ? "" : path[..slash];
            }
            path = path.TrimEnd('/');
            if (path.Length == 0) return null;
            keys.Add(new BloomKey(path));
        }
        return keys;
    }

    private Node Get(Oid id)
    {
        if (!_nodes.TryGetValue(id, out var n))
            _nodes[id] = n = new Node(id);
        return n;
    }

    private void Parse(Node n)
    {
        if (n.Parsed) return;
        n.GraphPosition = _graph?.Find(n.Id) ?? -1;
        var c = n.GraphPosition >= 0 ? _graph!.Read(n.GraphPosition) : _store.ReadCommit(n.Id);
        n.Parsed = true;
        CommitsParsed++;
        n.Date = c.CommitTime;
        n.Tree = c.Tree;
        foreach (var p in c.Parents) n.Parents.Add(Get(p));
    }

    private void Enqueue(Node n)
    {
        // git inserts after every queued commit with an equal or newer date: newest first, FIFO among equals.
        _queue.Add((-n.Date, _seq++, n));
    }

    private Node Pop()
    {
        var min = _queue.Min;
        _queue.Remove(min);
        return min.Node;
    }

    private sealed class QueueOrder : IComparer<(long NegDate, long Seq, Node Node)>
    {
        public static readonly QueueOrder Instance = new();

        public int Compare((long NegDate, long Seq, Node Node) x, (long NegDate, long Seq, Node Node) y)
        {
            var c = x.NegDate.CompareTo(y.NegDate);
            return c != 0 ? c : x.Seq.CompareTo(y.Seq);
        }
    }
}
