using Bisector.Git;

namespace Bisector.Tests.Git;

/// <summary>
/// The walk reads objects itself (loose files, packs with deltas, the commit-graph and its Bloom filters), so the
/// same history is judged against git log in each storage form git can leave a repository in.
/// </summary>
public sealed class ObjectStorageSpecs
{
    private static CancellationToken Timeout(int seconds = 110) => new CancellationTokenSource(TimeSpan.FromSeconds(seconds)).Token;

    private static readonly SelectionOptions[] AllOptions =
        [new(false, false), new(true, false), new(false, true), new(true, true)];

    // Enough files per directory that trees are large enough for git to store them as deltas of each other.
    private static readonly string[] Files =
    [
        .. Enumerable.Range(0, 30).Select(i => $"src/basic/util{i:D2}.c"),
        "src/basic/fileio.c", "src/basic/fileio.h", "src/core/main.c", "docs/a.md", "top.c",
        "src/ünïcode/é.c", // a non-ASCII path: Bloom filter keys hash its UTF-8 bytes
        "src/basic/more/deep.c",
    ];

    private static readonly string[][] Specs =
    [
        ["src/basic/fileio*"], ["src/basic/fileio.c"], ["src"], ["docs"], ["src/core", "top.c"], ["**/*.c"],
        [":(exclude)docs"], ["src/ünïcode"], ["src/basic", ":(exclude)src/basic/util0*"], ["src/basic/more/"],
    ];

    /// <summary>A seeded history with branches from old commits and merges that take one side, mix, or add edits.</summary>
    private static async Task<(List<string> All, string Tip)> RandomHistoryAsync(TempGitRepo repo, int seed, CancellationToken ct)
    {
        var rng = new Random(seed);
        var all = new List<string> { await repo.CommitFilesAsync("root", ct, Files.Select(f => (f, (string?)$"0 {f}")).ToArray()) };
        var heads = new List<string> { all[0] };
        for (var step = 0; step < 24; step++)
        {
            var roll = rng.Next(10);
            if (roll < 2 && all.Count > 2)
            {
                heads.Add(all[rng.Next(all.Count)]);
                continue;
            }
            if (roll < 4 && heads.Count > 1)
            {
                var i = rng.Next(heads.Count);
                var j = (i + 1 + rng.Next(heads.Count - 1)) % heads.Count;
                if (heads[i] == heads[j]) continue;
                var fromSecond = Files.Where(_ => rng.Next(3) == 0).ToArray();
                (string, string?)[] edits = rng.Next(3) == 0 ? [(Files[rng.Next(Files.Length)], $"evil {step}")] : [];
                var merge = await repo.MergeAsync(heads[i], heads[j], $"merge {step}", fromSecond, ct, edits);
                all.Add(merge);
                heads[i] = merge;
                if (rng.Next(2) == 0) heads.RemoveAt(j);
                continue;
            }
            var h = rng.Next(heads.Count);
            await repo.GitAsync(ct, "checkout", "--quiet", "--detach", heads[h]);
            var changes = Files.Where(_ => rng.Next(8) == 0).DefaultIfEmpty(Files[rng.Next(Files.Length)])
                .Select(f => (f, rng.Next(10) == 0 ? null : (string?)$"{seed}-{step} {f}")).ToArray();
            var c = await repo.CommitFilesAsync($"commit {step}", ct, changes);
            all.Add(c);
            heads[h] = c;
        }
        var tip = heads[0];
        for (var k = 1; k < heads.Count; k++)
            tip = await repo.MergeAsync(tip, heads[k], "final merge", [Files[k % Files.Length]], ct);
        return (all, tip);
    }

    private static async Task AssertParityAsync(TempGitRepo repo, string range, string[] paths, CancellationToken ct)
    {
        foreach (var options in AllOptions)
        {
            // Arrange
            string[] args = [.. options.FirstParent ? ["--first-parent"] : Array.Empty<string>(),
                .. options.NoMerges ? ["--no-merges"] : Array.Empty<string>(), .. range.Split(' '), "--", .. paths];
            var expected = await repo.LogAsync(ct, args);

            // Act
            var actual = CommitSelector.Log(repo.Path, range, paths, options);

            // Assert
            Assert.True(expected.SequenceEqual(actual),
                $"{range} -- {string.Join(' ', paths)} {options}\n git: {string.Join(' ', expected.Select(s => s[..7]))}\n ours: " +
                string.Join(' ', actual.Select(s => s[..7])));
        }
    }

    [Theory(Timeout = 120000)]
    [InlineData("loose", 11)]
    [InlineData("packed", 12)]
    [InlineData("commit-graph", 13)]
    [InlineData("changed-paths", 14)]
    [InlineData("packed-and-loose", 15)]
    public async Task I_can_select_the_same_commits_as_git_log_however_the_objects_are_stored(string storage, int seed)
    {
        // Arrange
        var ct = Timeout();
        await using var repo = await TempGitRepo.CreateAsync(ct);
        var (all, tip) = await RandomHistoryAsync(repo, seed, ct);
        if (storage != "loose")
            // Aggressive deltas so trees are stored as chains of OFS_DELTA objects.
            await repo.GitAsync(ct, "repack", "-a", "-d", "-f", "--depth=20", "--window=50", "--quiet");
        if (storage == "packed-and-loose")
        {
            // Newer objects loose on top of a pack, as after a fetch plus local commits.
            await repo.GitAsync(ct, "checkout", "--quiet", "--detach", tip);
            tip = await repo.CommitFilesAsync("after repack", ct, ("src/basic/fileio.c", "loose"), ("docs/a.md", "loose"));
        }
        await repo.GitAsync(ct, "tag", "tip", tip); // --reachable only sees commits that a ref reaches, not a detached HEAD
        if (storage is "commit-graph" or "changed-paths")
            await repo.GitAsync(ct, ["commit-graph", "write", "--reachable", .. storage == "changed-paths" ? ["--changed-paths"] : Array.Empty<string>()]);

        // Act + Assert: every pathspec over several ranges, with every option, against git log.
        foreach (var good in new[] { all[0], all[all.Count / 3] })
        {
            var isAncestor = (await repo.GitAsync(ct, "merge-base", good, tip)).Trim() == good;
            var range = isAncestor ? $"{good}..{tip}" : $"{tip} ^{good}";
            foreach (var spec in Specs)
                await AssertParityAsync(repo, range, spec, ct);
        }
        foreach (var spec in Specs)
            await AssertParityAsync(repo, tip, spec, ct);

        // Assert: the storage form under test is the one the walk actually read.
        var (_, stats) = CommitSelector.LogWithStats(repo.Path, tip, ["src/basic/fileio*"]);
        var (_, statsLiteral) = CommitSelector.LogWithStats(repo.Path, tip, ["src/basic/fileio.c"]);
        Assert.Equal(0, stats.FallbackReads);
        Assert.Equal(storage is "commit-graph" or "changed-paths", stats.CommitGraph);
        Assert.Equal(storage == "changed-paths", stats.BloomFilters);
        if (storage == "changed-paths") Assert.True(statsLiteral.BloomSkips > 0, "the Bloom filters were never used");
        if (storage != "loose") Assert.True(stats.DeltasApplied > 0, "no delta was read: the pack path is not tested");
    }

    [Theory]
    [InlineData("", 0u, 0u)]
    [InlineData("Hello, world!", 1234u, 0xfaf6cdb3u)]
    [InlineData("The quick brown fox jumps over the lazy dog", 0u, 0x2e4ff723u)]
    [InlineData("The quick brown fox jumps over the lazy dog", 0x9747b28cu, 0x2fa826cdu)]
    public void I_hash_Bloom_keys_with_murmur3_as_git_does(string text, uint seed, uint expected)
    {
        // Arrange: published MurmurHash3_x86_32 vectors (git's bloom.c implements that function).
        var bytes = System.Text.Encoding.UTF8.GetBytes(text);

        // Act
        var hash = BloomKey.Murmur3(bytes, seed, signedBytes: false);

        // Assert
        Assert.Equal(expected, hash);
    }
}
