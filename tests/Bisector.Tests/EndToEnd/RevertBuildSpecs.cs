using Bisector.Building;
using Bisector.Demo;
using Bisector.Git;
using Bisector.Recipes;
using Bisector.Tests.Demo;

namespace Bisector.Tests.EndToEnd;

/// <summary>The revert proof's build on the generated demo repository: real git revert, real make.</summary>
public sealed class RevertBuildSpecs : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("bisector-revert-").FullName;

    private Recipe RecipeWith(string step) => DemoTestSupport.BuildRecipe(_root, step, "demod, demo-client, src/store/reader.c", "revert-spec");

    private static async Task<(Commit Culprit, Commit Bad)> EndsAsync(DemoRepository demo)
    {
        var selection = await CommitSelector.SelectAsync(demo.Path, $"{demo.GoodRef}..{demo.BadRef}", demo.Paths);
        return (selection.Candidates.Single(c => c.Sha == demo.CulpritSha), selection.Bad);
    }

    [Fact(Timeout = 180_000)]
    public async Task I_can_build_the_bad_end_with_the_culprit_reverted_under_a_key_of_its_own()
    {
        // Arrange
        var demo = await DemoRepository.CreateAsync(Path.Combine(_root, "repo"), DemoScenario.Fragmentation);
        var (culprit, bad) = await EndsAsync(demo);
        var builder = new Builder(demo.Path, RecipeWith("make -j2"), Path.Combine(_root, "cache"), Path.Combine(_root, "scratch"));
        var before = await GitWorktree.ListAsync(demo.Path);

        // Act
        var first = await builder.BuildRevertAsync(bad, culprit);
        var second = await builder.BuildRevertAsync(bad, culprit);

        // Assert: built from the reverted tree, which has the culprit's parent's reader (no later commit touches it)
        Assert.True(first.Applied!.Clean);
        Assert.Empty(first.Applied.Conflicts);
        Assert.Equal(BuildStatus.Built, first.Build.Status);
        Assert.Equal(Builder.RevertKey(culprit, bad), Path.GetFileName(first.Build.Artifact!.Directory));
        Assert.DoesNotMatch("^[0-9a-f]{40}$", Builder.RevertKey(culprit, bad));
        var reverted = await File.ReadAllTextAsync(Path.Combine(first.Build.Artifact.Directory, "src/store/reader.c"));
        var parent = await GitTextAsync(demo.Path, "show", culprit.Sha + "^:src/store/reader.c");
        Assert.Equal(parent, reverted);
        Assert.Contains("git revert --no-commit " + culprit.Sha, first.Build.Log);
        Assert.Equal(BuildStatus.Cached, second.Build.Status);
        Assert.Null(builder.TryGetCached(bad.Sha)); // the bad end's own key stays free

        // Assert: the worktree is gone and unregistered from the user's repository
        Assert.Equal(before, await GitWorktree.ListAsync(demo.Path));
        Assert.Empty(Directory.GetDirectories(Path.Combine(_root, "scratch")));
    }

    [Fact(Timeout = 120_000)]
    public async Task I_can_see_a_revert_that_conflicts_named_with_its_files_and_nothing_built()
    {
        // Arrange: a later commit edits a line the culprit wrote
        var demo = await DemoRepository.CreateAsync(Path.Combine(_root, "tangled"), DemoScenario.Tangled);
        var (culprit, bad) = await EndsAsync(demo);
        var builder = new Builder(demo.Path, RecipeWith("make -j2"), Path.Combine(_root, "cache"), Path.Combine(_root, "scratch"));
        var before = await GitWorktree.ListAsync(demo.Path);

        // Act
        var result = await builder.BuildRevertAsync(bad, culprit);

        // Assert
        Assert.False(result.Applied!.Clean);
        Assert.Equal(["src/store/reader.c"], result.Applied.Conflicts);
        Assert.Equal(BuildStatus.Failed, result.Build.Status);
        Assert.Null(result.Build.Artifact);
        Assert.Contains("conflicts in src/store/reader.c", result.Build.Log);
        Assert.DoesNotContain("make -j2", result.Build.Log.Split('\n').Where(l => l.StartsWith('$')));
        Assert.Null(builder.TryGetCached(Builder.RevertKey(culprit, bad)));
        Assert.Equal(before, await GitWorktree.ListAsync(demo.Path));
    }

    private static async Task<string> GitTextAsync(string repo, params string[] args) =>
        (await CliWrap.Buffered.BufferedCommandExtensions.ExecuteBufferedAsync(CliWrap.Cli.Wrap("git").WithArguments(args).WithWorkingDirectory(repo))).StandardOutput;

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
