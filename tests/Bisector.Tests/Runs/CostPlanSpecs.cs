using System.Text.Json;
using Bisector.Building;
using Bisector.Recipes;
using Bisector.Reporting;
using Bisector.Runs;
using Bisector.Sampling;
using Bisector.Search;
using Bisector.Statistics;
using Bisector.Storage;
using Bisector.Tests.Reporting;
using Bisector.Tests.Storage;
using Bisector.Workers;

namespace Bisector.Tests.Runs;

/// <summary>
/// The cost plan: the real search simulated on noise and effect fitted from a stored run in a real SQLite results
/// database (or on assumed noise when there is none), priced with the stored trials' and builds' times.
/// </summary>
public sealed class CostPlanSpecs : IDisposable
{
    private const double MiB = 1024 * 1024;
    private readonly string _results = Directory.CreateTempSubdirectory("bisector-plan-").FullName;

    private static readonly Recipe Plateau = StoredRun.Recipe("  metric: rss_anon\n  feature: plateau\n  direction: increase\n  min-effect: 1048576",
        "sampling:\n  warmup: 1s\n  window: 7s");

    private static SearchOptions Options(int workers = 2) => new(SearchStrategy.Bisect, workers, Plateau.Decide, 1, Plateau.Trials.Repeats, Plateau.Trials.Max);

    [Fact(Timeout = 60_000)]
    public async Task I_can_plan_a_run_from_a_stored_run_of_the_same_recipe()
    {
        // Arrange: a finished run of 10 candidates that named 8 (4 → 8 MiB), trials of 10 s each, builds of 3 s
        await using var store = await ResultsStore.OpenAsync(Path.Combine(_results, "bisector.db"));
        var run = await StoreFinishedRunAsync(store);

        // Act
        var uncached = await CostPlanner.PlanAsync(store, null, Plateau, Options(), 10, "local:2", _ => false);
        var cached = await CostPlanner.PlanAsync(store, null, Plateau, Options(), 10, "local:2", _ => true);

        // Assert: the basis, its effect and its times are the stored run's
        Assert.Equal(PlanBasis.StoredRun, uncached.Basis);
        Assert.Contains($"stored run {run.Id} of this recipe (finished, 10 trial(s), 5 build(s))", uncached.Description);
        var main = Assert.Single(uncached.Cases);
        Assert.InRange(main.Effect / MiB, 3.9, 4.1);
        Assert.Equal(10, uncached.TrialSeconds);
        Assert.Equal(3, uncached.BuildSeconds);
        Assert.Equal(1.0, main.Named);
        // The search needs its 2 + 2 anchor trials and at least one probe and a verification
        Assert.InRange(main.Trials.Low, 6, 40);
        Assert.True(main.Trials.Low <= main.Trials.Median && main.Trials.Median <= main.Trials.High);
        // A round of trials on 2 workers is at least one 10-s slot; the same seeds run the same searches, so cached
        // builds save at least the two ends' builds (2 × 3 s)
        Assert.True(main.Seconds.Low >= main.Rounds.Low * 10, $"{main.Seconds.Low} s for {main.Rounds.Low} rounds");
        Assert.True(cached.Main.Seconds.Median <= main.Seconds.Median - 6, $"cached {cached.Main.Seconds.Median} s vs {main.Seconds.Median} s");
        Assert.Equal(11, cached.CachedBuilds);
        Assert.StartsWith("plan: ≈ ", uncached.Lines[0]);
        Assert.EndsWith(" on local:2", uncached.Lines[0]);
    }

    [Fact(Timeout = 60_000)]
    public async Task I_can_plan_build_time_from_an_older_run_when_the_newest_found_every_build_in_the_cache()
    {
        // Arrange: an older run built 5 commits in 3 s each; the newest run of the recipe took every build from the cache
        await using var store = await ResultsStore.OpenAsync(Path.Combine(_results, "bisector.db"));
        var older = await StoreFinishedRunAsync(store);
        var newest = await StoreFinishedRunAsync(store, BuildStatus.Cached);

        // Act
        var plan = await CostPlanner.PlanAsync(store, null, Plateau, Options(), 10, "local:2", _ => false);

        // Assert
        Assert.Contains($"stored run {newest.Id} of this recipe (finished, 10 trial(s), 0 build(s))", plan.Description);
        Assert.EndsWith($"; build time from run {older.Id}", plan.Description);
        Assert.Equal(3, plan.BuildSeconds);
    }

    [Fact(Timeout = 60_000)]
    public async Task I_can_see_the_range_between_a_min_effect_and_a_large_change_when_nothing_was_measured()
    {
        // Act: no results database
        var plan = await CostPlanner.PlanAsync(null, null, Plateau, Options(), 10, "local:2", _ => false);

        // Assert
        Assert.Equal(PlanBasis.None, plan.Basis);
        Assert.StartsWith("none: nothing measured with this recipe", plan.Description);
        Assert.Equal(2, plan.Cases.Count);
        Assert.Equal(1 * MiB, plan.Cases[0].Effect);
        Assert.Equal(CostPlanner.LargeChange * MiB, plan.Cases[1].Effect);
        Assert.True(plan.Cases[1].Trials.Median <= plan.Cases[0].Trials.Median, "a large change costs no more trials than one at min-effect");
        Assert.Equal(8, plan.TrialSeconds); // warm-up 1 s + window 7 s
        Assert.Null(plan.BuildSeconds);
        Assert.Contains("a change of min-effect (1.00 MiB): ≈ ", plan.Headline);
        Assert.Contains("; a large change (10 × min-effect): ≈ ", plan.Headline);
        // Noise as wide as min-effect and a cap of 12 trials a commit: most such searches end undecided, and the plan says so
        Assert.True(plan.Cases[0].Named < CostPlan.MostlyNamed, $"named {plan.Cases[0].Named}");
        Assert.Contains("naming a culprit in only ", plan.Headline);
        Assert.Equal(1.0, plan.Cases[1].Named);
        Assert.Contains(plan.Lines, l => l.Contains("builds not counted", StringComparison.Ordinal));
    }

    [Theory(Timeout = 60_000)]
    [InlineData(SearchStrategy.Kary)]
    [InlineData(SearchStrategy.Exhaustive)]
    public async Task I_can_plan_the_other_strategies(SearchStrategy strategy)
    {
        // Act
        var plan = await CostPlanner.PlanAsync(null, null, Plateau, Options() with { Strategy = strategy }, 10, "local:2", _ => false);

        // Assert: exhaustive measures all 11 positions, 3 trials each after the anchors' 2
        Assert.Equal(2, plan.Cases.Count);
        if (strategy == SearchStrategy.Exhaustive)
            Assert.True(plan.Cases[1].Trials.Low >= 2 * 2 + 9 * 3, $"{plan.Cases[1].Trials.Low} trials");
        Assert.All(plan.Cases, c => Assert.True(c.Trials.Low >= 4, $"{c.Trials.Low} trials"));
    }

    [Fact(Timeout = 60_000)]
    public async Task I_can_have_a_run_store_its_plan_and_re_plan_from_its_first_round()
    {
        // Arrange: a run under way with nothing stored for this recipe before it
        await using var store = await ResultsStore.OpenAsync(Path.Combine(_results, "bisector.db"));
        var run = await StoredRun.CreateAsync(store, Plateau, candidates: 10);
        var logged = new List<string>();
        var rounds = 0;

        async Task<IReadOnlyList<PositionEvidence>> FirstRound(IReadOnlyList<MeasureRequest> requests, CancellationToken ct)
        {
            rounds++;
            foreach (var r in requests)
            {
                for (var i = 0; i < r.AdditionalTrials; i++)
                    await AddTrialAsync(store, run, r.Position, i, r.Position == 10 ? 8 : 4);
            }

            return requests.Select(r => new PositionEvidence(r.Position, false, [])).ToList();
        }

        MeasureAsync inner = FirstRound;

        // Act
        var measure = await CostPlanner.PlanRunAsync(store, run.Id, Plateau, Options(), 10, "local:2", _ => false, logged.Add, inner);
        await measure([new MeasureRequest(0, 2), new MeasureRequest(10, 2)], CancellationToken.None);
        await measure([new MeasureRequest(5, 1)], CancellationToken.None);
        var searchEnd = await CostPlanner.SearchEndAsync(store, run.Id);
        var resumed = await CostPlanner.PlanRunAsync(store, run.Id, Plateau, Options(), 10, "local:2", _ => false, logged.Add, inner);
        await resumed([new MeasureRequest(6, 1)], CancellationToken.None);
        var plans = await CostPlanner.LoadAsync(store, run.Id);

        // Assert: the plan before the run had no basis; after round 1 it is fitted on the ends (4 vs 8 MiB), once; a resumed
        // run plans nothing new
        Assert.Equal(3, rounds);
        Assert.NotNull(searchEnd);
        Assert.True(await CostPlanner.SearchEndAsync(store, run.Id) >= searchEnd, "the resumed run's round moves the search's end");
        Assert.Equal([PlanStage.Start, PlanStage.FirstRound], plans.Select(p => p.Stage));
        Assert.Equal(PlanBasis.None, plans[0].Basis);
        Assert.Equal(PlanBasis.FirstTrials, plans[1].Basis);
        Assert.InRange(plans[1].Main.Effect / MiB, 3.9, 4.1);
        Assert.Equal(10, plans[1].TrialSeconds);
        Assert.Contains(logged, l => l.StartsWith("plan (re-planned after round 1): ≈ ", StringComparison.Ordinal));
    }

    [Fact(Timeout = 60_000)]
    public async Task I_can_read_plan_against_spending_in_the_report_the_terminal_and_json()
    {
        // Arrange
        var plan = new CostPlan(PlanStage.Start, PlanBasis.StoredRun, "stored run X of this recipe", 10, "local:2", 2, 10, "median of 10 stored trial(s)", 3, 0, 100,
            [new PlanCase("the change the basis measured (4.13 MiB)", 4.13 * MiB, new Spread(14, 10, 18), new Spread(5, 4, 6), new Spread(65, 45, 70), 1)]);
        var model = SyntheticRun.Build() with { Plans = [plan] };
        var spent = model.Outcome!.TrialsSpent;
        var dir = Path.Combine(_results, "report");

        // Act
        var files = await ReportWriter.WriteAsync(model, dir);
        var terminal = new StringWriter();
        TerminalSummary.WritePlain(model, terminal);
        var json = JsonDocument.Parse(RunResultJson.Render(model, null));

        // Assert
        var markdown = await File.ReadAllTextAsync(files.Markdown);
        var versus = $"plan: 14 trials, 65 s; spent: {spent} trials, {CostPlan.Minutes(model.Run.WallTime.TotalSeconds)}";
        Assert.Contains("## Cost plan", markdown);
        Assert.Contains($"**{versus}**", markdown);
        Assert.Contains("| before the run | StoredRun | the change the basis measured (4.13 MiB) | 14 (10–18) | 5 (4–6) | 65 s (45 s–70 s) | 100.0% |", markdown);
        Assert.Contains(versus, await File.ReadAllTextAsync(files.Html));
        Assert.Contains(versus, terminal.ToString());
        var start = json.RootElement.GetProperty("plan").GetProperty("start");
        Assert.Equal(14, start.GetProperty("trials").GetDouble());
        Assert.Equal(65, start.GetProperty("wallSeconds").GetDouble());
        Assert.Equal("StoredRun", start.GetProperty("basis").GetString());
    }

    private static async Task<StoredRun> StoreFinishedRunAsync(ResultsStore store, BuildStatus builds = BuildStatus.Built)
    {
        var run = await StoredRun.CreateAsync(store, Plateau, candidates: 10);
        (int Position, int Trials)[] measured = [(0, 2), (10, 2), (5, 2), (8, 2), (7, 2)];
        foreach (var (position, trials) in measured)
        {
            for (var i = 0; i < trials; i++)
                await AddTrialAsync(store, run, position, i, position >= 8 ? 8 : 4);
            await store.AddBuildAsync(run.Id, new BuildResult(run.Line[position].Sha, builds, null, "", builds == BuildStatus.Built ? TimeSpan.FromSeconds(3) : TimeSpan.Zero, []), Plateau.Hash);
        }

        var outcome = new SearchOutcome(SearchStatus.Found, 8, 8, 8, 0.99, null, [], new Dictionary<int, Comparison>(), [], 10, false, "Found: 8");
        await store.SetRunStatusAsync(run.Id, RunStatus.Finished, JsonSerializer.Serialize(outcome, RunEngine.Json), outcome.Summary);
        return run;
    }

    /// <summary>A 10-s trial whose rss_anon sits at <paramref name="mib"/> MiB, a few pages apart from trial to trial.</summary>
    private static async Task AddTrialAsync(ResultsStore store, StoredRun run, int position, int index, double mib)
    {
        var level = mib * MiB + 4096 * (index % 2 == 0 ? 3 : -3);
        var samples = Enumerable.Range(0, 80).Select(i => new Sample(i / 10.0, Metrics.RssAnon, level)).ToList();
        var start = new DateTimeOffset(2026, 11, 30, 12, 0, 0, TimeSpan.Zero).AddMinutes(position * 10 + index);
        await store.AddTrialAsync(run.Id, new NewTrial(position, run.Line[position].Sha, index, 1, "local-1", "host", TrialOutcome.Ok, null,
            start, start.AddSeconds(10), samples));
    }

    public void Dispose() => Directory.Delete(_results, recursive: true);
}
