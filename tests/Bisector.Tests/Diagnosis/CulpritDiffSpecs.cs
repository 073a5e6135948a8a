using Bisector.Diagnosis;
using Bisector.Tests.Git;

namespace Bisector.Tests.Diagnosis;

public sealed class CulpritDiffSpecs
{
    private static CancellationToken Timeout() => new CancellationTokenSource(TimeSpan.FromSeconds(50)).Token;

    [Fact(Timeout = 60000)]
    public async Task I_can_see_the_culprits_change_limited_to_the_runs_paths()
    {
        // Arrange
        var ct = Timeout();
        await using var repo = await TempGitRepo.CreateAsync(ct);
        await repo.CommitFilesAsync("root", ct, ("src/basic/fileio.c", "old\n"), ("docs/README", "old\n"));
        var culprit = await repo.CommitFilesAsync("fileio: 4 MiB buffer", ct, ("src/basic/fileio.c", "new\n"), ("docs/README", "new\n"));

        // Act
        var diff = await CulpritDiff.RenderAsync(repo.Path, culprit, [":(exclude)docs"], ct: ct);

        // Assert
        Assert.Contains("diff --git a/src/basic/fileio.c b/src/basic/fileio.c", diff);
        Assert.Contains("-old\n+new", diff);
        Assert.DoesNotContain("docs/README", diff);
    }

    [Fact(Timeout = 60000)]
    public async Task I_can_see_a_merge_culprit_against_its_first_parent_and_capped()
    {
        // Arrange
        var ct = Timeout();
        await using var repo = await TempGitRepo.CreateAsync(ct);
        var root = await repo.CommitFilesAsync("root", ct, ("src/a.c", "0\n"), ("src/b.c", "0\n"));
        var side = await repo.CommitFilesAsync("side", ct, ("src/b.c", string.Concat(Enumerable.Range(0, 50).Select(i => $"{i}\n"))));
        await repo.GitAsync(ct, "checkout", "--quiet", "--detach", root);
        var main = await repo.CommitFilesAsync("main", ct, ("src/a.c", "main\n"));
        var merge = await repo.MergeAsync(main, side, "merge side", ["src/b.c"], ct);

        // Act
        var diff = await CulpritDiff.RenderAsync(repo.Path, merge, ["src"], maxLines: 10, ct: ct);

        // Assert: the merge brought src/b.c relative to its first parent; src/a.c came from the first parent itself.
        var lines = diff.Split('\n');
        Assert.Equal(11, lines.Length);
        Assert.StartsWith("diff --git a/src/b.c b/src/b.c", lines[0]);
        Assert.DoesNotContain("src/a.c", diff);
        Assert.StartsWith("… ", lines[^1]);
        Assert.Contains($"git show {merge[..12]}", lines[^1]);
    }

    [Fact(Timeout = 60000)]
    public async Task I_get_a_clear_error_for_a_commit_the_repository_lacks()
    {
        // Arrange
        var ct = Timeout();
        await using var repo = await TempGitRepo.CreateAsync(ct);
        await repo.CommitFilesAsync("root", ct, ("src/a.c", "0\n"));

        // Act
        var error = await Assert.ThrowsAsync<GitSelectionException>(() =>
            CulpritDiff.RenderAsync(repo.Path, new string('e', 40), ["src"], ct: ct));

        // Assert
        Assert.Contains(new string('e', 40), error.Message);
        Assert.Contains("Fix:", error.Message);
    }
}
