using Bisector.Building;
using Bisector.Demo;
using Bisector.Git;
using Bisector.Recipes;
using Bisector.Tests.Demo;

namespace Bisector.Tests.EndToEnd;

/// <summary>The build stage on real commits of the demo repository with the real compiler.</summary>
public sealed class BuildSpecs : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("bisector-build-").FullName;

    private async Task<(DemoRepository Demo, CommitSelection Selection)> DemoAsync()
    {
        var demo = await DemoRepository.CreateAsync(Path.Combine(_root, "repo"));
        return (demo, await CommitSelector.SelectAsync(demo.Path, $"{demo.GoodRef}..{demo.BadRef}", demo.Paths));
    }

    private Recipe RecipeWith(string step) => DemoTestSupport.BuildRecipe(_root, step, name: "build-spec");

    [Fact(Timeout = 120_000)]
    public async Task I_can_build_a_commit_once_and_get_it_from_the_cache_the_second_time()
    {
        // Arrange
        var (demo, selection) = await DemoAsync();
        var builder = new Builder(demo.Path, RecipeWith("make -j2"), Path.Combine(_root, "cache"), Path.Combine(_root, "scratch"));
        var commit = selection.Candidates[0];

        // Act
        var first = await builder.BuildAsync(commit);
        var second = await builder.BuildAsync(commit);

        // Assert
        Assert.Equal(BuildStatus.Built, first.Status);
        Assert.Equal(BuildStatus.Cached, second.Status);
        Assert.Equal(first.Artifact!.ContentHash, second.Artifact!.ContentHash);
        Assert.True(File.Exists(Path.Combine(first.Artifact.Directory, "demod")));
        Assert.Contains("make -j2", first.Log);
        Assert.Empty(Directory.GetDirectories(Path.Combine(_root, "scratch")));
    }

    [Fact(Timeout = 120_000)]
    public async Task I_can_see_a_failing_build_as_a_skipped_commit_with_its_log()
    {
        // Arrange: the build fails for exactly one commit, as a real compiler error would
        var (demo, selection) = await DemoAsync();
        var broken = selection.Candidates[3];
        var builder = new Builder(demo.Path, RecipeWith($"test \"$BISECTOR_COMMIT\" != {broken.Sha} || {{ echo 'reader.c:1: error: broken on purpose' >&2; exit 1; }}; make -j2"),
            Path.Combine(_root, "cache"), Path.Combine(_root, "scratch"));

        // Act
        var failed = await builder.BuildAsync(broken);
        var neighbour = await builder.BuildAsync(selection.Candidates[4]);

        // Assert
        Assert.Equal(BuildStatus.Failed, failed.Status);
        Assert.False(failed.Succeeded);
        Assert.Null(failed.Artifact);
        Assert.Contains("broken on purpose", failed.Log);
        Assert.Null(builder.TryGetCached(broken.Sha));
        Assert.Equal(BuildStatus.Built, neighbour.Status);
    }

    [Fact(Timeout = 120_000)]
    public async Task I_can_see_a_hanging_build_stopped_at_the_recipe_timeout()
    {
        // Arrange
        var (demo, selection) = await DemoAsync();
        var recipe = RecipeWith("sleep 60");
        recipe = recipe with { Build = recipe.Build with { Timeout = TimeSpan.FromSeconds(2) } };
        var builder = new Builder(demo.Path, recipe, Path.Combine(_root, "cache"), Path.Combine(_root, "scratch"));

        // Act
        var result = await builder.BuildAsync(selection.Candidates[0]);

        // Assert
        Assert.Equal(BuildStatus.TimedOut, result.Status);
        Assert.Contains("timeout", result.Log);
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
