using Bisector.Git;

namespace Bisector.Tests.Git;

public sealed class CommitSelectorSpecs
{
    private static CancellationToken Timeout() => new CancellationTokenSource(TimeSpan.FromSeconds(50)).Token;

    /// <summary>A small project with the shapes the motivating case has: a src/basic/fileio* family, docs, deep dirs.</summary>
    private static async Task<(TempGitRepo Repo, string[] Shas)> LinearProjectAsync(CancellationToken ct)
    {
        var repo = await TempGitRepo.CreateAsync(ct);
        var shas = new List<string>
        {
            await repo.CommitFilesAsync("initial", ct, ("src/basic/fileio.c", "1"), ("src/basic/util.c", "1"),
                ("docs/README", "1"), ("Makefile", "1")),
            await repo.CommitFilesAsync("fileio: read_full_file", ct, ("src/basic/fileio.c", "2")),
            await repo.CommitFilesAsync("docs", ct, ("docs/README", "2")),
            await repo.CommitFilesAsync("add fileio-label.h", ct, ("src/basic/fileio-label.h", "1")),
            await repo.CommitFilesAsync("deep file", ct, ("src/shared/deep/x.c", "1"), ("docs/a.c", "1")),
            await repo.CommitFilesAsync("util", ct, ("src/basic/util.c", "2")),
            await repo.CommitFilesAsync("rename util", ct, ("src/basic/util.c", null), ("src/basic/util2.c", "2")),
            await repo.CommitFilesAsync("delete label", ct, ("src/basic/fileio-label.h", null)),
            await repo.CommitFilesAsync("fileio: 4 MiB buffer", ct, ("src/basic/fileio.c", "3"), ("docs/README", "3")),
            await repo.CommitFilesAsync("case", ct, ("SRC/Upper.c", "1")),
            await repo.CommitFilesAsync("star file", ct, ("src/lit*eral", "1"), ("Makefile", "2")),
            await repo.CommitFilesAsync("file becomes dir", ct, ("Makefile", null), ("Makefile/inner.mk", "1")),
        };
        await repo.GitAsync(ct, "tag", "v1", shas[1]);
        await repo.GitAsync(ct, "tag", "-a", "v2", "-m", "annotated", shas[^2]);
        await repo.GitAsync(ct, "branch", "feature", shas[5]);
        return (repo, shas.ToArray());
    }

    private static async Task AssertSameAsGitLogAsync(TempGitRepo repo, string range, string[] paths,
        SelectionOptions options, CancellationToken ct)
    {
        // Arrange
        string[] gitArgs = [.. options.FirstParent ? ["--first-parent"] : Array.Empty<string>(),
            .. options.NoMerges ? ["--no-merges"] : Array.Empty<string>(), .. range.Split(' '), "--", .. paths];
        var expected = (await repo.LogAsync(ct, gitArgs)).Reverse().ToArray();
        var inRange = await repo.GitAsync(ct, ["rev-list", "--count", .. gitArgs[..^(paths.Length + 1)]]);

        // Act
        if (expected.Length == 0)
        {
            await Assert.ThrowsAsync<GitSelectionException>(() => CommitSelector.SelectAsync(repo.Path, range, paths, options, ct: ct));
            return;
        }
        var selection = await CommitSelector.SelectAsync(repo.Path, range, paths, options, ct: ct);

        // Assert
        Assert.True(expected.SequenceEqual(selection.Candidates.Select(c => c.Sha)),
            $"{range} -- {string.Join(' ', paths)} {options}:\n git: {string.Join(' ', expected.Select(s => s[..7]))}\n ours: " +
            string.Join(' ', selection.Candidates.Select(c => c.Sha[..7])));
        Assert.Equal(int.Parse(inRange.Trim(), System.Globalization.CultureInfo.InvariantCulture), selection.CommitsInRange);
    }

    [Theory(Timeout = 60000)]
    [InlineData("src/basic/fileio.c")]
    [InlineData("src/basic")]
    [InlineData("src/basic/")]
    [InlineData("src/bas")]
    [InlineData("src/basic/fileio*")]
    [InlineData("src/basic/fileio.?")]
    [InlineData("src/?asic")]
    [InlineData("**/*.c")]
    [InlineData("*.c")]
    [InlineData(":(glob)**/*.c")]
    [InlineData(":(glob)src/*")]
    [InlineData(":(glob)src/**")]
    [InlineData(":(glob)*.c")]
    [InlineData("src/basic/[fu]*")]
    [InlineData("src/basic/[!f]*")]
    [InlineData(":(exclude)docs")]
    [InlineData(":!docs")]
    [InlineData(":^docs", "src")]
    [InlineData("src", ":(exclude)src/basic/util*")]
    [InlineData(":(top)src/shared")]
    [InlineData(":/src/shared")]
    [InlineData(":(icase)src/upper.c")]
    [InlineData("src/lit*eral")]
    [InlineData(":(literal)src/lit*eral")]
    [InlineData("Makefile")]
    [InlineData("src/basic/util.c")]
    [InlineData("src/basic/util2.c")]
    [InlineData("src/basic/fileio-label.h")]
    [InlineData(".")]
    [InlineData("./src/shared")]
    public async Task I_can_select_the_same_commits_as_git_log_for_a_pathspec(params string[] paths)
    {
        // Arrange
        var ct = Timeout();
        var (repo, shas) = await LinearProjectAsync(ct);
        await using var _ = repo;

        // Act + Assert
        await AssertSameAsGitLogAsync(repo, $"{shas[0]}..{shas[^1]}", paths, SelectionOptions.Default, ct);
    }

    [Fact(Timeout = 60000)]
    public async Task I_can_pass_a_shell_expanded_list_of_file_names()
    {
        // Arrange
        var ct = Timeout();
        var (repo, shas) = await LinearProjectAsync(ct);
        await using var _ = repo;
        var expanded = Directory.GetFiles(Path.Combine(repo.Path, "src/basic"), "fileio*")
            .Select(f => Path.GetRelativePath(repo.Path, f)).Append("src/basic/util2.c").ToArray();

        // Act + Assert
        await AssertSameAsGitLogAsync(repo, $"{shas[0]}..HEAD", expanded, SelectionOptions.Default, ct);
    }

    [Theory(Timeout = 60000)]
    [InlineData("{0}..{1}")]
    [InlineData("{1} ^{0}")]
    [InlineData("v1..v2")]
    [InlineData("v1..feature")]
    [InlineData("HEAD~3..HEAD")]
    [InlineData("{0:short}..main")]
    [InlineData("v1..")]
    public async Task I_can_write_the_range_the_ways_git_accepts(string template)
    {
        // Arrange
        var ct = Timeout();
        var (repo, shas) = await LinearProjectAsync(ct);
        await using var _ = repo;
        var range = template.Replace("{0:short}", shas[0][..8]).Replace("{0}", shas[0]).Replace("{1}", shas[^1]);

        // Act + Assert
        await AssertSameAsGitLogAsync(repo, range, ["src", "Makefile"], SelectionOptions.Default, ct);
        var selection = await CommitSelector.SelectAsync(repo.Path, range, ["src", "Makefile"], ct: ct);
        var goodSpec = range.Contains("..") ? range[..range.IndexOf("..", StringComparison.Ordinal)] : shas[0];
        Assert.Equal(await repo.RevParseAsync(goodSpec + "^{commit}", ct), selection.Good.Sha);
    }

    [Fact(Timeout = 60000)]
    public async Task I_can_find_the_motivating_fileio_commits_newest_last()
    {
        // Arrange
        var ct = Timeout();
        var (repo, shas) = await LinearProjectAsync(ct);
        await using var _ = repo;

        // Act
        var selection = await CommitSelector.SelectAsync(repo.Path, "v1..v2", ["src/basic/fileio*"], ct: ct);

        // Assert
        Assert.Equal(shas[1], selection.Good.Sha);
        Assert.Equal(shas[^2], selection.Bad.Sha);
        Assert.Equal([shas[3], shas[7], shas[8]], selection.Candidates.Select(c => c.Sha));
        Assert.Equal("fileio: 4 MiB buffer", selection.Candidates[^1].Subject);
        Assert.Equal([shas[7]], selection.Candidates[^1].Parents);
        Assert.Equal(9, selection.CommitsInRange);
    }

    [Theory(Timeout = 60000)]
    [InlineData("v1...v2", "A...B")]
    [InlineData("nosuchtag..v2", "unknown revision 'nosuchtag'")]
    [InlineData("v2..v1", "swap")]
    [InlineData("v1..v1", "same commit")]
    [InlineData("v2", "exactly one good and one bad")]
    [InlineData("feature..v1", "not an ancestor")]
    public async Task I_get_a_clear_error_for_a_bad_range(string range, string expectedFragment)
    {
        // Arrange
        var ct = Timeout();
        var (repo, shas) = await LinearProjectAsync(ct);
        await using var _ = repo;
        await repo.GitAsync(ct, "checkout", "--quiet", "-b", "side", shas[0]);
        await repo.CommitFilesAsync("diverge", ct, ("src/basic/fileio.c", "side"));
        await repo.GitAsync(ct, "branch", "--force", "feature");

        // Act
        var error = await Assert.ThrowsAsync<GitSelectionException>(() => CommitSelector.SelectAsync(repo.Path, range, ["src"], ct: ct));

        // Assert
        Assert.Contains(expectedFragment, error.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("Fix:", error.Message);
    }

    [Theory(Timeout = 60000)]
    [InlineData("nothing/here", "matched no commit")]
    [InlineData(":(bogus)src", "Invalid pathspec magic 'bogus'")]
    [InlineData(":(attr:foo)src", "matched no commit")] // git accepts attr magic; no file has the attribute
    [InlineData("src/[", "unclosed '['")]
    [InlineData(":(exclude", "Missing ')'")]
    public async Task I_get_a_clear_error_for_a_bad_pathspec(string path, string expectedFragment)
    {
        // Arrange
        var ct = Timeout();
        var (repo, _) = await LinearProjectAsync(ct);
        await using var __ = repo;

        // Act
        var error = await Assert.ThrowsAsync<GitSelectionException>(() => CommitSelector.SelectAsync(repo.Path, "v1..v2", [path], ct: ct));

        // Assert
        Assert.Contains(expectedFragment, error.Message);
        Assert.Contains(path, error.Message);
    }

    [Fact(Timeout = 60000)]
    public async Task I_can_describe_a_dry_run()
    {
        // Arrange
        var ct = Timeout();
        var (repo, shas) = await LinearProjectAsync(ct);
        await using var _ = repo;
        var selection = await CommitSelector.SelectAsync(repo.Path, "v1..v2", ["src/basic/fileio*"], ct: ct);
        var inRange = (await repo.LogAsync(ct, "v1..v2")).Count;

        // Act
        var lines = CommitSelector.DescribeDryRun(selection);

        // Assert
        var text = string.Join('\n', lines);
        Assert.Contains($"{inRange} commits in range; 3 change src/basic/fileio* and will be tested; {inRange - 3} filtered out", text);
        Assert.Contains($"Oldest candidate: {shas[3][..10]}", text);
        Assert.Contains($"Newest candidate: {shas[8][..10]}", text);
        Assert.Equal(3, lines.Count(l => l.StartsWith("  ", StringComparison.Ordinal) && l.Contains(". ", StringComparison.Ordinal)));
    }
}
