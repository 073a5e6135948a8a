using Bisector.Building;
using Bisector.Demo;
using Bisector.Git;
using Bisector.Runs;
using Bisector.Storage;
using Bisector.Tests.Demo;
using Bisector.Tests.Storage;

namespace Bisector.Tests.Runs;

/// <summary>Building ahead: while a round's trials run, the commits the search may want next are built at the lowest
/// CPU priority, on the demo repository with the real compiler and a real results database.</summary>
public sealed class BuildAheadSpecs : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("bisector-ahead-").FullName;

    [Fact]
    public void I_can_plan_the_next_midpoints_on_both_sides_of_every_position_a_round_measures_then_the_next_quantiles()
    {
        // Arrange: 0 and 16 measured before; the round measures the ends, or 8, then 4 and 12 with 8 measured (a round of 4
        // workers asks for a probe and fills at the next quantiles, so the plan goes on breadth first up to 6 commits; a gap of
        // 11 has two middles, 5 and 6, as the search's probe and its neighbour take them, then quarter points 3 and 8)
        // Act
        var ends = BuildAheadPlan.Positions([0, 16], [0, 16]);
        var middle = BuildAheadPlan.Positions([0, 16], [8]);
        var quarters = BuildAheadPlan.Positions([0, 8, 16], [4, 12]);
        var neighbours = BuildAheadPlan.Positions([0, 5, 7], [6]);
        var odd = BuildAheadPlan.Positions([0, 11], [0, 11]);

        // Assert
        Assert.Equal([8, 4, 12, 2, 6, 10], ends);
        Assert.Equal([4, 12, 2, 6, 10, 14], middle);
        Assert.Equal([2, 6, 10, 14, 1, 3], quarters);
        Assert.Empty(neighbours);
        Assert.Equal([5, 6, 3, 8, 1, 4], odd);
    }

    [Fact(Timeout = 180_000)]
    public async Task I_can_have_a_commit_built_ahead_at_low_priority_and_raised_when_a_round_waits_for_it()
    {
        // Arrange: the build writes the nice value of a process it starts, waits for the test's go, then writes it again
        var (builder, builds, run, commits) = await ArrangeAsync(
            $"awk '{{print $19}}' /proc/self/stat > {_root}/before; while [ ! -f {_root}/go ]; do sleep 0.1; done; " +
            $"awk '{{print $19}}' /proc/self/stat > {_root}/after; make -j2");
        var own = int.Parse(File.ReadAllText("/proc/self/stat")[(File.ReadAllText("/proc/self/stat").LastIndexOf(')') + 2)..].Split(' ')[16],
            System.Globalization.CultureInfo.InvariantCulture);

        // Act: build ahead, and once its step runs, a round asks for the commit
        builds.BuildAhead([commits[2]]);
        while (!File.Exists(Path.Combine(_root, "before")) || File.ReadAllText(Path.Combine(_root, "before")).Length == 0)
            await Task.Delay(100, CancellationToken.None);
        var wanted = builds.EnsureAsync(commits[2], CancellationToken.None);
        await File.WriteAllTextAsync(Path.Combine(_root, "go"), "", CancellationToken.None);
        var build = await wanted;

        // Assert: built once, low while ahead, the run's own priority once waited for; recorded as one build
        Assert.Equal(BuildStatus.Built, build.Status);
        Assert.Equal(Math.Min(19, own + BuildPriority.LowNice), int.Parse(File.ReadAllText(Path.Combine(_root, "before")).Trim(), System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(own, int.Parse(File.ReadAllText(Path.Combine(_root, "after")).Trim(), System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(1, builds.BuiltAhead);
        var stored = Assert.Single(await run.Store.GetBuildsAsync(run.Id, CancellationToken.None));
        Assert.Equal(commits[2].Sha, stored.Sha);
        Assert.NotNull(builder.TryGetCached(commits[2].Sha));
        await builds.StopAsync();
    }

    [Fact(Timeout = 180_000)]
    public async Task I_can_have_a_build_ahead_cancelled_when_a_round_needs_another_commit()
    {
        // Arrange: building one commit hangs in a child of the step's shell (as a compiler would, holding the step's
        // output pipes); the others build at once. The hang's command line is this test's own (a fractional duration no
        // other process uses), so the check below cannot mistake another test's sleep for it.
        var hang = $"sleep 600.{Random.Shared.Next(100_000, 1_000_000)}";
        var (builder, builds, run, commits) = await ArrangeAsync(
            $"if [ \"$BISECTOR_COMMIT\" = {FirstCandidate} ]; then touch {_root}/started; {hang}; fi; make -j2");
        _ = run;

        // Act: the round wants another commit while the first build ahead hangs and a second one waits in the queue
        builds.BuildAhead([commits[1], commits[2]]);
        while (!File.Exists(Path.Combine(_root, "started")))
            await Task.Delay(100, CancellationToken.None);
        var other = await builds.EnsureAsync(commits[3], CancellationToken.None);
        await builds.StopAsync();

        // Assert: the build ahead was stopped with its whole process group (its sleep not left), left nothing cached, the
        // queued one was dropped; the wanted commit was built
        Assert.Equal(BuildStatus.Built, other.Status);
        Assert.Null(builder.TryGetCached(commits[1].Sha));
        Assert.Null(builder.TryGetCached(commits[2].Sha));
        Assert.DoesNotContain(Directory.GetDirectories("/proc").Select(d => Path.Combine(d, "cmdline")),
            f => File.Exists(f) && TryRead(f).Replace('\0', ' ').Trim() == hang);
        Assert.Equal(0, builds.BuiltAhead);
    }

    private static string TryRead(string file)
    {
        try
        {
            return File.ReadAllText(file);
        }
        catch (IOException)
        {
            return "";
        }
    }

    private const string FirstCandidate = "__FIRST__";

    private async Task<(Builder, Builds, StoredRun, IReadOnlyList<Commit>)> ArrangeAsync(string step)
    {
        var demo = await DemoRepository.CreateAsync(Path.Combine(_root, "repo"));
        var selection = await CommitSelector.SelectAsync(demo.Path, $"{demo.GoodRef}..{demo.BadRef}", demo.Paths);
        var commits = selection.Candidates;
        var recipe = DemoTestSupport.BuildRecipe(_root, step.Replace(FirstCandidate, commits[1].Sha, StringComparison.Ordinal), name: "ahead-spec");
        var builder = new Builder(demo.Path, recipe, Path.Combine(_root, "cache"), Path.Combine(_root, "scratch"));
        var store = await ResultsStore.OpenAsync(Path.Combine(_root, "bisector.db"));
        _stores.Add(store);
        var run = await StoredRun.CreateAsync(store, StoredRun.Recipe("  metric: rss_anon"), candidates: 4);
        return (builder, new Builds(store, run.Id, recipe.Hash, builder, _ => { }), run, commits);
    }

    private readonly List<ResultsStore> _stores = [];

    public void Dispose()
    {
        foreach (var store in _stores)
            store.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Directory.Delete(_root, recursive: true);
    }
}
