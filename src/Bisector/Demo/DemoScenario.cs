namespace Bisector.Demo;

/// <summary>Which regression (or fix) the generated demo history contains. Every scenario has exactly one known culprit
/// commit, the answer to "which commit made it worse first"; <see cref="TwoChanges"/> has one more change after it.</summary>
public enum DemoScenario
{
    /// <summary>
    /// The reader switches from "allocate 4 KiB and grow" to "allocate 4 MiB, read, realloc() down to the data size",
    /// like systemd's read_full_virtual_file() in 2ac67221bb. Nothing leaks, but glibc's heap fragments and the
    /// daemon's anonymous memory keeps growing.
    /// </summary>
    Fragmentation,

    /// <summary>The cache starts refreshing entries in place and forgets to free the old label: in-use heap grows.</summary>
    Leak,

    /// <summary>The cache gains a 16 MiB table filled at startup: a level step in anonymous memory, no growth.</summary>
    StaticTable,

    /// <summary>
    /// The other way round: the reader's 4 MiB-then-realloc() change of <see cref="Fragmentation"/> lands before the
    /// good release, so memory grows at both v1.0 and every commit up to the known commit, which goes back to reading in
    /// 4 KiB steps — a fix, found with <c>--find-fix</c> on the unchanged regression recipe.
    /// </summary>
    Fix,

    /// <summary>
    /// <see cref="Fragmentation"/>'s culprit, then a later commit in the range rewrites one of the lines it changed (the
    /// read size, spelled as a size_t: same behaviour), so <c>git revert</c> of the culprit on the bad end conflicts and
    /// the revert proof must say so instead of measuring anything.
    /// </summary>
    Tangled,

    /// <summary>
    /// Two changes in one range: the 16 MiB table of <see cref="StaticTable"/> lands early (a level step, the known
    /// culprit: the first change), and the in-place refresh of <see cref="Leak"/> lands later (growth on top of the
    /// step). Both change the deciding feature (the plateau), so a scan after the verdict must report both.
    /// </summary>
    TwoChanges,
}
