using Bisector.Git;

namespace Bisector.Tests.Git;

/// <summary>Merges: git's default history simplification, --first-parent and --no-merges, judged against git log.</summary>
public sealed class HistorySimplificationSpecs
{
    private static CancellationToken Timeout(int seconds = 290) => new CancellationTokenSource(TimeSpan.FromSeconds(seconds)).Token;

    private static readonly SelectionOptions[] AllOptions =
        [new(false, false), new(true, false), new(false, true), new(true, true)];

    private static async Task<IReadOnlyList<string>> GitLogAsync(TempGitRepo repo, string range, string[] paths,
        SelectionOptions options, CancellationToken ct)
    {
        string[] args = [.. options.FirstParent ? ["--first-parent"] : Array.Empty<string>(),
            .. options.NoMerges ? ["--no-merges"] : Array.Empty<string>(), .. range.Split(' '), "--", .. paths];
        return await repo.LogAsync(ct, args);
    }

    private static async Task AssertParityAsync(TempGitRepo repo, string range, string[] paths, CancellationToken ct)
    {
        foreach (var options in AllOptions)
        {
            // Arrange
            var expected = await GitLogAsync(repo, range, paths, options, ct);

            // Act
            var actual = await CommitSelector.LogAsync(repo.Path, range, paths, options, ct);

            // Assert
            Assert.True(expected.SequenceEqual(actual),
                $"{range} -- {string.Join(' ', paths)} {options}\n git: {string.Join(' ', expected.Select(s => s[..7]))}\n ours: " +
                string.Join(' ', actual.Select(s => s[..7])));
        }
    }

    [Fact(Timeout = 300000)]
    public async Task I_can_follow_the_side_commit_when_a_merge_only_brings_its_change()
    {
        // Arrange: main touches docs, side touches src; the merge is TREESAME to side for src.
        var ct = Timeout();
        await using var repo = await TempGitRepo.CreateAsync(ct);
        var root = await repo.CommitFilesAsync("root", ct, ("src/a.c", "0"), ("docs/d", "0"));
        var side = await repo.CommitFilesAsync("side: src", ct, ("src/a.c", "side"));
        await repo.GitAsync(ct, "checkout", "--quiet", "--detach", root);
        var main = await repo.CommitFilesAsync("main: docs", ct, ("docs/d", "main"));
        var merge = await repo.MergeAsync(main, side, "merge side", ["src/a.c"], ct);

        // Act
        var selection = await CommitSelector.SelectAsync(repo.Path, $"{root}..{merge}", ["src"], ct: ct);

        // Assert
        Assert.Equal([side], selection.Candidates.Select(c => c.Sha));
        await AssertParityAsync(repo, $"{root}..{merge}", ["src"], ct);
        await AssertParityAsync(repo, $"{root}..{merge}", ["docs"], ct);
    }

    [Fact(Timeout = 300000)]
    public async Task I_can_keep_a_merge_that_differs_from_every_parent()
    {
        // Arrange: both sides change src and the merge combines them (and one evil merge edits on its own).
        var ct = Timeout();
        await using var repo = await TempGitRepo.CreateAsync(ct);
        var root = await repo.CommitFilesAsync("root", ct, ("src/a.c", "0"), ("src/b.c", "0"), ("docs/d", "0"));
        var side = await repo.CommitFilesAsync("side: b", ct, ("src/b.c", "side"));
        await repo.GitAsync(ct, "checkout", "--quiet", "--detach", root);
        var main = await repo.CommitFilesAsync("main: a", ct, ("src/a.c", "main"));
        var merge = await repo.MergeAsync(main, side, "merge", ["src/b.c"], ct);
        var side2 = await repo.CommitFilesAsync("after merge: docs", ct, ("docs/d", "1"));
        var evil = await repo.MergeAsync(side2, side, "evil merge", [], ct, ("src/c.c", "evil"));

        // Act
        var selection = await CommitSelector.SelectAsync(repo.Path, $"{root}..{evil}", ["src"], ct: ct);

        // Assert
        Assert.Contains(merge, selection.Candidates.Select(c => c.Sha));
        Assert.Contains(evil, selection.Candidates.Select(c => c.Sha));
        await AssertParityAsync(repo, $"{root}..{evil}", ["src"], ct);
        await AssertParityAsync(repo, $"{root}..{evil}", ["src/b.c"], ct);
    }

    [Fact(Timeout = 300000)]
    public async Task I_can_drop_a_side_branch_whose_change_was_reverted()
    {
        // Arrange: side changes src and changes it back; the merge is TREESAME to both parents.
        var ct = Timeout();
        await using var repo = await TempGitRepo.CreateAsync(ct);
        var root = await repo.CommitFilesAsync("root", ct, ("src/a.c", "0"), ("docs/d", "0"));
        await repo.CommitFilesAsync("side: change", ct, ("src/a.c", "x"));
        var side = await repo.CommitFilesAsync("side: revert", ct, ("src/a.c", "0"));
        await repo.GitAsync(ct, "checkout", "--quiet", "--detach", root);
        var main = await repo.CommitFilesAsync("main: src", ct, ("src/a.c", "m"));
        var merge = await repo.MergeAsync(main, side, "merge", [], ct);

        // Act
        var selection = await CommitSelector.SelectAsync(repo.Path, $"{root}..{merge}", ["src"], ct: ct);

        // Assert
        Assert.Equal([main], selection.Candidates.Select(c => c.Sha));
        await AssertParityAsync(repo, $"{root}..{merge}", ["src"], ct);
    }

    [Fact(Timeout = 300000)]
    public async Task I_can_ignore_an_old_branch_merged_after_the_good_commit()
    {
        // Arrange: a branch forked before A is merged after A; its fork point is UNINTERESTING but not the bottom.
        var ct = Timeout();
        await using var repo = await TempGitRepo.CreateAsync(ct);
        var root = await repo.CommitFilesAsync("root", ct, ("src/a.c", "0"), ("lib/l.c", "0"));
        var old = await repo.CommitFilesAsync("old side", ct, ("lib/l.c", "old"));
        await repo.GitAsync(ct, "checkout", "--quiet", "--detach", root);
        await repo.CommitFilesAsync("main 1", ct, ("src/a.c", "1"));
        var good = await repo.CommitFilesAsync("main 2", ct, ("lib/l.c", "main"));
        var m1 = await repo.CommitFilesAsync("main 3", ct, ("src/a.c", "3"));
        await repo.MergeAsync(m1, old, "merge old", ["lib/l.c"], ct);
        var bad = await repo.CommitFilesAsync("main 4", ct, ("src/a.c", "4"));
        var merge2 = await repo.MergeAsync(bad, root, "merge root again", [], ct);

        // Act + Assert
        foreach (var paths in new[] { ["src"], ["lib"], new[] { "src", "lib" }, ["nothing"] })
        {
            await AssertParityAsync(repo, $"{good}..{merge2}", paths, ct);
            await AssertParityAsync(repo, $"{root}..{merge2}", paths, ct);
            await AssertParityAsync(repo, $"{merge2} ^{good}", paths, ct);
        }
    }

    [Fact(Timeout = 600000)]
    public async Task I_can_match_git_log_on_randomly_generated_merge_histories()
    {
        // Arrange: several seeded random DAGs with branches forked from old commits and merges whose trees mix
        // both sides, take one side whole, or add their own edits.
        var ct = Timeout(590);
        string[] files = ["src/basic/fileio.c", "src/basic/fileio.h", "src/basic/util.c", "src/core/main.c", "docs/a.md", "top.c"];
        string[][] specs = [["src/basic/fileio*"], ["src"], ["docs"], ["src/core", "top.c"], ["**/*.c"], [":(exclude)docs"]];
        var checkedRanges = 0;
        foreach (var seed in new[] { 1, 2, 3 })
        {
            var rng = new Random(seed);
            await using var repo = await TempGitRepo.CreateAsync(ct);
            var all = new List<string> { await repo.CommitFilesAsync("root", ct, files.Select(f => (f, (string?)"0")).ToArray()) };
            var heads = new List<string> { all[0] };
            for (var step = 0; step < 28; step++)
            {
                var roll = rng.Next(10);
                if (roll < 2 && all.Count > 2)
                {
                    heads.Add(all[rng.Next(all.Count)]); // a new branch from any older commit
                    continue;
                }
                if (roll < 5 && heads.Count > 1)
                {
                    var i = rng.Next(heads.Count);
                    var j = (i + 1 + rng.Next(heads.Count - 1)) % heads.Count;
                    var fromSecond = files.Where(_ => rng.Next(3) == 0).ToArray();
                    var shape = rng.Next(4);
                    if (shape == 0) fromSecond = files; // takes the second parent's tree for every path
                    (string, string?)[] edits = shape == 1 ? [(files[rng.Next(files.Length)], $"evil{step}")] : [];
                    if (heads[i] == heads[j]) continue;
                    var merge = await repo.MergeAsync(heads[i], heads[j], $"merge {step}", fromSecond, ct, edits);
                    all.Add(merge);
                    heads[i] = merge;
                    if (rng.Next(2) == 0) heads.RemoveAt(j);
                    continue;
                }
                var h = rng.Next(heads.Count);
                await repo.GitAsync(ct, "checkout", "--quiet", "--detach", heads[h]);
                var changes = files.Where(_ => rng.Next(4) == 0).DefaultIfEmpty(files[rng.Next(files.Length)])
                    .Select(f => (f, rng.Next(8) == 0 ? "0" : (string?)$"s{seed}-{step}")).ToArray();
                var c = await repo.CommitFilesAsync($"commit {step}", ct, changes);
                all.Add(c);
                heads[h] = c;
            }
            // One tip holding everything, so ranges reach every branch.
            var tip = heads[0];
            for (var k = 1; k < heads.Count; k++)
                tip = await repo.MergeAsync(tip, heads[k], "final merge", [files[k % files.Length]], ct);

            // Act + Assert
            foreach (var goodIndex in new[] { 0, all.Count / 3, all.Count / 2 })
            {
                var good = all[goodIndex];
                var isAncestor = (await repo.GitAsync(ct, "merge-base", good, tip)).Trim() == good;
                var range = isAncestor ? $"{good}..{tip}" : $"{tip} ^{good}";
                foreach (var spec in specs)
                    await AssertParityAsync(repo, range, spec, ct);
                checkedRanges++;
            }
            foreach (var spec in specs)
                await AssertParityAsync(repo, tip, spec, ct);
        }
        Assert.Equal(9, checkedRanges);
    }

    [Fact(Timeout = 300000)]
    public async Task I_get_a_topological_order_even_with_clock_skew()
    {
        // Arrange: a child committed "before" its parent, as a wrong clock on a contributor's machine does.
        var ct = Timeout();
        await using var repo = await TempGitRepo.CreateAsync(ct);
        var root = await repo.CommitFilesAsync("root", ct, ("src/a.c", "0"));
        var a = await repo.CommitFilesAsync("a", ct, ("src/a.c", "1"));
        var b = await repo.CommitFilesAsync("b", ct, ("src/a.c", "2"));
        repo.SetClock(1_500_000_000);
        var skewed = await repo.CommitFilesAsync("skewed", ct, ("src/a.c", "3"));
        repo.SetClock(1_700_000_000);
        await repo.GitAsync(ct, "checkout", "--quiet", "--detach", a);
        var side = await repo.CommitFilesAsync("side", ct, ("src/b.c", "1"));
        var tip = await repo.MergeAsync(skewed, side, "merge", ["src/b.c"], ct);
        var expected = await repo.LogAsync(ct, $"{root}..{tip}", "--", "src");

        // Act
        var selection = await CommitSelector.SelectAsync(repo.Path, $"{root}..{tip}", ["src"], ct: ct);

        // Assert: the same commits as git, and every commit after all of its ancestors.
        var order = selection.Candidates.Select(c => c.Sha).ToList();
        Assert.Equal(expected.Order(), order.Order());
        foreach (var c in selection.Candidates)
            foreach (var p in c.Parents.Where(order.Contains))
                Assert.True(order.IndexOf(p) < order.IndexOf(c.Sha), $"{p[..7]} must come before its child {c.ShortSha}");
        Assert.True(order.IndexOf(b) < order.IndexOf(skewed));
    }
}
