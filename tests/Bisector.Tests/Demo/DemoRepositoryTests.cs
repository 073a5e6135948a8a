using Bisector.Demo;
using static Bisector.Tests.Demo.DemoTestSupport;

namespace Bisector.Tests.Demo;

public sealed class DemoRepositoryTests
{
    [Theory(Timeout = 120000)]
    [InlineData(DemoScenario.Fragmentation)]
    [InlineData(DemoScenario.Leak)]
    [InlineData(DemoScenario.StaticTable)]
    [InlineData(DemoScenario.Fix)]
    [InlineData(DemoScenario.TwoChanges)]
    public async Task I_can_generate_a_demo_repository_with_the_documented_shape(DemoScenario scenario)
    {
        // Arrange
        using var temp = new TempDir();

        // Act
        var demo = await DemoRepository.CreateAsync(temp.Sub("repo"), scenario);

        // Assert
        Assert.Equal(["v1.0", "v1.1"], (await GitAsync(demo.Path, "tag", "--list")).Split('\n'));
        var range = $"{demo.GoodRef}..{demo.BadRef}";
        var candidates = (await GitAsync(demo.Path, ["log", "--format=%H %s", range, "--", .. demo.Paths])).Split('\n');
        Assert.Equal(candidates.Length, demo.CandidateCount);
        Assert.InRange(demo.CandidateCount, 8, 12);
        Assert.Contains($"{demo.CulpritSha} {demo.CulpritSubject}", candidates);
        Assert.Equal(int.Parse(await GitAsync(demo.Path, "rev-list", "--count", range)), demo.CommitsInRange);
        Assert.InRange(demo.CommitsInRange, 35, 45);
        Assert.NotEqual("", await GitAsync(demo.Path, "rev-list", "--merges", range));
        // The culprit is strictly inside the range: its parent is a later good commit, not v1.0 itself.
        Assert.Equal("0", await GitAsync(demo.Path, "rev-list", "--count", $"{demo.CulpritSha}..{demo.GoodRef}"));
        Assert.NotEqual(await GitAsync(demo.Path, "rev-parse", $"{demo.CulpritSha}^"), await GitAsync(demo.Path, "rev-parse", "v1.0"));
        Assert.Equal("", await GitAsync(demo.Path, "status", "--porcelain"));
        // A further change is a candidate too, after the culprit (the culprit is an ancestor of it).
        Assert.Equal(scenario == DemoScenario.TwoChanges ? 1 : 0, demo.FurtherChangeShas.Count);
        foreach (var further in demo.FurtherChangeShas)
        {
            Assert.Contains(candidates, c => c.StartsWith(further, StringComparison.Ordinal));
            Assert.Equal(further, await GitAsync(demo.Path, "rev-list", "-1", "--ancestry-path", $"{demo.CulpritSha}..{further}"));
        }
    }

    [Fact(Timeout = 120000)]
    public async Task I_can_generate_the_same_shas_twice()
    {
        // Arrange
        using var temp = new TempDir();

        // Act
        var first = await DemoRepository.CreateAsync(temp.Sub("one"));
        var second = await DemoRepository.CreateAsync(temp.Sub("two"));
        var leak = await DemoRepository.CreateAsync(temp.Sub("leak"), DemoScenario.Leak);

        // Assert
        Assert.Equal(first.CulpritSha, second.CulpritSha);
        Assert.Equal(await GitAsync(first.Path, "rev-parse", "v1.1"), await GitAsync(second.Path, "rev-parse", "v1.1"));
        Assert.Equal(await GitAsync(first.Path, "rev-parse", "v1.0"), await GitAsync(leak.Path, "rev-parse", "v1.0"));
        Assert.NotEqual(first.CulpritSha, leak.CulpritSha);
    }

    [Fact(Timeout = 30000)]
    public async Task I_cannot_generate_into_a_directory_that_has_files()
    {
        // Arrange
        using var temp = new TempDir();
        await File.WriteAllTextAsync(temp.Sub("keep.txt"), "mine");

        // Act
        var error = await Assert.ThrowsAsync<UsageException>(() => DemoRepository.CreateAsync(temp.Path));

        // Assert
        Assert.Contains("not empty", error.Message);
        Assert.Equal("mine", await File.ReadAllTextAsync(temp.Sub("keep.txt")));
    }
}
