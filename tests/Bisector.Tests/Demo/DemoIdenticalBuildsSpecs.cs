using Bisector.Building;
using Bisector.Demo;
using Bisector.Git;
using Bisector.Recipes;

namespace Bisector.Tests.Demo;

/// <summary>The demo's comment-only commits build identically to the commit before them, with the real compiler.</summary>
public sealed class DemoIdenticalBuildsSpecs : IDisposable
{
    private readonly TempDir _temp = new();

    [Fact(Timeout = 600_000)]
    public async Task I_can_see_the_demos_comment_only_commits_build_like_their_predecessor()
    {
        // Arrange: every candidate of the fragmentation demo, built as a run builds it
        var demo = await DemoRepository.CreateAsync(_temp.Sub("repo"));
        var selection = await CommitSelector.SelectAsync(demo.Path, $"{demo.GoodRef}..{demo.BadRef}", demo.Paths);
        var recipe = DemoTestSupport.BuildRecipe(_temp.Path);
        var builder = new Builder(demo.Path, recipe, _temp.Sub("cache"), _temp.Sub("scratch"));
        var line = CommitLine.Of(selection);

        // Act
        var fingerprints = new List<(string Subject, string Fingerprint)>();
        for (var p = 1; p <= line.CandidateCount; p++)
        {
            var build = await builder.BuildAsync(line[p]);
            Assert.True(build.Succeeded, build.Log);
            fingerprints.Add((line[p].Subject, build.Artifact!.Fingerprint!));
        }

        // Assert: exactly these candidates repeat the build before them (oldest first)
        var twins = Enumerable.Range(1, fingerprints.Count - 1).Where(i => fingerprints[i].Fingerprint == fingerprints[i - 1].Fingerprint)
            .Select(i => fingerprints[i].Subject).ToArray();
        Assert.Equal(
            [
                "store/cache: explain why the cache is bounded",
                "store/cache: say what a client's label holds",
                "store/reader: say why the buffer is NUL-terminated",
                "store/cache: allow overriding the number of slots at build time",
            ], twins);
        Assert.DoesNotContain(demo.CulpritSubject, twins);
    }

    public void Dispose() => _temp.Dispose();
}
