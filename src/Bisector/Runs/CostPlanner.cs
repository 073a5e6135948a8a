using System.Globalization;
using System.Text.Json;
using Bisector.Recipes;
using Bisector.Search;
using Bisector.Search.Simulation;
using Bisector.Statistics;
using Bisector.Storage;
using Bisector.Workers;

namespace Bisector.Runs;

/// <summary>
/// The noise and effect a plan simulates, fitted on measured trials of this recipe.
/// </summary>
/// <param name="Level">The good side's median of the deciding feature.</param>
/// <param name="Residuals">Every trial's feature minus its commit's mean, scaled by √(n/(n−1)) so a commit's few trials
/// do not understate the spread; the simulation resamples them, so heavy tails stay heavy.</param>
/// <param name="Effect">Bad side minus good side (signed, feature units); null when the basis shows noise only.</param>
/// <param name="TrialSeconds">Median wall time of a stored trial (start-up, warm-up and window); null when none ended.</param>
/// <param name="BuildSeconds">Median time of a real build (cache hits left out); null when none was built.</param>
internal sealed record PlanFit(
    PlanBasis Basis, string Description, double Level, IReadOnlyList<double> Residuals, double? Effect, double? TrialSeconds, int TrialCount,
    double? BuildSeconds);

/// <summary>
/// Plans a run's cost by running the real <see cref="SearchEngine"/> over simulated trials — no second cost model of the
/// search: each seed puts the culprit at a uniform position of this run's candidates and draws every trial's feature as
/// the fitted level (+ effect from the culprit on) + a resampled residual. Rounds follow what <see cref="Measurer"/> does
/// (the wanted totals of <see cref="TrialWants"/>, a round filled to the workers by <see cref="Search.WorkerSlots"/>), and the wall
/// time what it spends: a round first builds its new commits one after another (cache hits cost nothing), then its
/// trials run ⌈trials / workers⌉ slots deep on the pool.
/// </summary>
internal static class CostPlanner
{
    /// <summary>Seeded searches a case: enough for the 10th and 90th percentiles; 60 searches of a 10-candidate range
    /// at min-effect take a few seconds on 2 loaded cores, fewer for a larger effect.</summary>
    public const int Seeds = 60;

    /// <summary>The "large change" of a plan without a measured effect, in min-effects.</summary>
    public const double LargeChange = 10;

    /// <summary>The interquartile range of Student-t with ν = 3 (the no-basis noise is scaled so its IQR is one min-effect).</summary>
    private const double StudentT3Iqr = 1.5298;

    private static readonly TrialSeries Empty = new([], []);

    /// <summary>
    /// The plan before the run: fitted on the newest stored run of the same recipe hash that has trials (finished runs
    /// first), else the recipe's own trial length and no noise (<see cref="PlanBasis.None"/>).
    /// </summary>
    public static async Task<CostPlan> PlanAsync(
        ResultsStore? store, string? excludeRunId, Recipe recipe, SearchOptions options, int candidates, string workers, Func<int, bool> cached,
        CancellationToken ct = default)
    {
        PlanFit? fit = null;
        if (store is not null)
        {
            // Newest first (the list is oldest first); a stable sort puts finished runs before the others.
            var runs = (await store.ListRunsAsync(ct)).Where(r => r.RecipeHash == recipe.Hash && r.Id != excludeRunId).Reverse()
                .OrderByDescending(r => r.Status == RunStatus.Finished).Take(5).ToList();
            foreach (var run in runs)
            {
                fit = await FitAsync(store, run, recipe, PlanBasis.StoredRun, ct);
                if (fit is not null)
                {
                    break;
                }
            }

            // A run whose builds all came from the cache measured none: another run of the recipe may have.
            foreach (var run in runs.Where(_ => fit is { BuildSeconds: null }))
            {
                if (await BuildSecondsAsync(store, run.Id, ct) is { } seconds)
                {
                    fit = fit! with { BuildSeconds = seconds, Description = fit.Description + $"; build time from run {run.Id}" };
                    break;
                }
            }
        }

        return await SimulateAsync(PlanStage.Start, fit, recipe, options, candidates, workers, cached, ct);
    }

    /// <summary>
    /// The plan a run prints first and stores (a resumed run keeps the one it stored). Returns the measure callback the
    /// run goes on with: unless the plan had a stored run to go on, it re-plans from this run's first round (stored and
    /// printed too), and otherwise passes every round through unchanged.
    /// </summary>
    public static async Task<MeasureAsync> PlanRunAsync(
        ResultsStore store, string runId, Recipe recipe, SearchOptions options, int candidates, string workers, Func<int, bool> cached,
        Action<string> log, MeasureAsync measure, CancellationToken ct = default)
    {
        if ((await store.GetPlansAsync(runId, ct)).Any(p => p.Stage == StartStage))
        {
            return MarkingSearchEnd(store, runId, measure);
        }

        // Builds this run makes are not free for the plan: what is cached is decided once, before the first build.
        var cachedAtStart = Enumerable.Range(0, candidates + 1).Where(cached).ToHashSet();
        var plan = await PlanAsync(store, runId, recipe, options, candidates, workers, cachedAtStart.Contains, ct);
        await SaveAsync(store, runId, plan, log, ct);
        var marked = MarkingSearchEnd(store, runId, measure);
        if (plan.Basis == PlanBasis.StoredRun)
        {
            return marked;
        }

        var replanned = false;
        return async (requests, token) =>
        {
            var evidence = await marked(requests, token);
            if (!replanned)
            {
                replanned = true;
                if (await store.GetRunAsync(runId, token) is { } run && await FitAsync(store, run, recipe, PlanBasis.FirstTrials, token) is { } fit)
                {
                    await SaveAsync(store, runId, await SimulateAsync(PlanStage.FirstRound, fit, recipe, options, candidates, workers, cachedAtStart.Contains, token), log, token);
                }
            }

            return evidence;
        };
    }

    private const string StartStage = "start";

    /// <summary>Stage of the row whose time is the end of the planned work's last round (calibration and search, not
    /// what runs after the verdict), so "spent" compares like with like.</summary>
    public const string SearchEndStage = "searchend";

    private static MeasureAsync MarkingSearchEnd(ResultsStore store, string runId, MeasureAsync measure) => async (requests, token) =>
    {
        var evidence = await measure(requests, token);
        await store.SavePlanAsync(runId, SearchEndStage, "{}", token);
        return evidence;
    };

    private static async Task SaveAsync(ResultsStore store, string runId, CostPlan plan, Action<string> log, CancellationToken ct)
    {
        await store.SavePlanAsync(runId, plan.Stage.ToString().ToLowerInvariant(), JsonSerializer.Serialize(plan, RunEngine.Json), ct);
        foreach (var line in plan.Lines)
        {
            log(line);
        }
    }

    /// <summary>The plans a run stored, in the order they were made.</summary>
    public static async Task<IReadOnlyList<CostPlan>> LoadAsync(ResultsStore store, string runId, CancellationToken ct = default) =>
        (await store.GetPlansAsync(runId, ct)).Where(p => p.Stage != SearchEndStage)
            .Select(p => JsonSerializer.Deserialize<CostPlan>(p.PlanJson, RunEngine.Json)!).ToList();

    /// <summary>When the search's last round ended (null for runs without a plan).</summary>
    public static async Task<DateTimeOffset?> SearchEndAsync(ResultsStore store, string runId, CancellationToken ct = default) =>
        (await store.GetPlansAsync(runId, ct)).LastOrDefault(p => p.Stage == SearchEndStage) is { } row
            ? DateTimeOffset.Parse(row.CreatedAt, CultureInfo.InvariantCulture)
            : null;

    /// <summary>
    /// Fits noise, effect and times on one run's stored trials and builds. A run that named a culprit gives both sides
    /// (positions before it and from it on); a run under way gives its ends (0 and N); a run that found no regression
    /// (or none yet) gives noise only. Null when fewer than two trials ended.
    /// </summary>
    public static async Task<PlanFit?> FitAsync(ResultsStore store, RunRow run, Recipe recipe, PlanBasis basis, CancellationToken ct = default)
    {
        var ok = (await store.GetTrialsAsync(run.Id, ct)).Where(t => t.Outcome == TrialOutcome.Ok).ToList();
        var byPosition = new Dictionary<int, List<double>>();
        foreach (var trial in ok)
        {
            var samples = await store.GetSamplesAsync(trial.Id, recipe.Decide.Metric, ct);
            var value = samples.Count == 0 ? double.NaN
                : Features.Extract(new TrialSeries(samples.Select(s => s.Seconds).ToList(), samples.Select(s => s.Value).ToList()), recipe.Decide.Feature, recipe.Sampling.Warmup.TotalSeconds);
            if (double.IsFinite(value))
            {
                (byPosition.TryGetValue((int)trial.Position, out var list) ? list : byPosition[(int)trial.Position] = []).Add(value);
            }
        }

        if (byPosition.Values.Sum(v => v.Count) < 2)
        {
            return null;
        }

        var residuals = byPosition.Values.Where(v => v.Count >= 2)
            .SelectMany(v => v.Select(x => (x - v.Average()) * Math.Sqrt(v.Count / (v.Count - 1.0)))).ToArray();
        var outcome = run.OutcomeJson is null ? null : JsonSerializer.Deserialize<SearchOutcome>(run.OutcomeJson, RunEngine.Json);
        var last = (int)(await store.GetCommitsAsync(run.Id, ct)).Max(c => c.Position);
        double[] Side(Func<int, bool> inSide) => byPosition.Where(kv => inSide(kv.Key)).SelectMany(kv => kv.Value).ToArray();
        var (good, bad) = outcome switch
        {
            { Status: SearchStatus.Found or SearchStatus.FoundRange } o => (Side(p => p < o.RangeFirst), Side(p => p >= o.RangeLast)),
            null when run.Status == RunStatus.Running => (Side(p => p == 0), Side(p => p == last)),
            _ => (Side(_ => true), []),
        };
        if (good.Length == 0)
        {
            (good, bad) = (Side(_ => true), []);
        }

        var level = Robust.Median(good);
        double? effect = bad.Length > 0 ? Robust.Median(bad) - level : null;
        var calibration = await store.GetCalibrationAsync(run.Id, ct);
        if (effect is null && calibration is not null && basis == PlanBasis.StoredRun)
        {
            basis = PlanBasis.Calibration;
        }

        var durations = ok.Select(t => (DateTimeOffset.Parse(t.EndedAt, CultureInfo.InvariantCulture) - DateTimeOffset.Parse(t.StartedAt, CultureInfo.InvariantCulture)).TotalSeconds)
            .Where(s => s > 0).ToArray();
        var builds = await RealBuildsAsync(store, run.Id, ct);
        var scale = FeatureScale.For(recipe.Decide.Metric, recipe.Decide.Feature);
        var what = basis switch
        {
            PlanBasis.FirstTrials => $"this run's first trials ({ok.Count} trial(s)",
            PlanBasis.Calibration => $"the A/A calibration of run {run.Id} ({ok.Count} trial(s)",
            _ => $"stored run {run.Id} of this recipe ({run.Status.ToString().ToLowerInvariant()}, {ok.Count} trial(s), {builds.Length} build(s)",
        };
        var description = what + string.Create(CultureInfo.InvariantCulture,
            $"): noise {Describe(scale, Robust.InterquartileRange(residuals.Length > 0 ? residuals : [0.0]))} IQR of one trial, ") +
            (effect is { } e ? $"effect {Describe(scale, Math.Abs(e))} (good {Describe(scale, level)})" : "no effect measured");
        return new PlanFit(basis, description, level, residuals, effect, durations.Length > 0 ? Robust.Median(durations) : null, durations.Length,
            builds.Length > 0 ? Robust.Median(builds) : null);
    }

    /// <summary>Seconds of each real build of a run (cache hits took no time and say nothing about a build).</summary>
    private static async Task<double[]> RealBuildsAsync(ResultsStore store, string runId, CancellationToken ct) =>
        (await store.GetBuildsAsync(runId, ct)).Where(b => b.Status == Building.BuildStatus.Built).Select(b => b.DurationMs / 1000.0).ToArray();

    private static async Task<double?> BuildSecondsAsync(ResultsStore store, string runId, CancellationToken ct) =>
        await RealBuildsAsync(store, runId, ct) is { Length: > 0 } builds ? Robust.Median(builds) : null;

    /// <summary>Simulates the search on <paramref name="fit"/> (null: no basis — a min-effect and a large change over
    /// Student-t noise whose IQR is one min-effect) and prices each simulated search in wall time.</summary>
    public static async Task<CostPlan> SimulateAsync(
        PlanStage stage, PlanFit? fit, Recipe recipe, SearchOptions options, int candidates, string workers, Func<int, bool> cached,
        CancellationToken ct = default)
    {
        var decision = options.Decision;
        var sign = decision.Direction == RegressionDirection.Increase ? 1 : -1;
        var scale = FeatureScale.For(decision.Metric, decision.Feature);
        var noisy = fit is { Residuals.Count: >= 2 };
        var unit = decision.MinEffect > 0 ? decision.MinEffect
            : noisy && Robust.InterquartileRange(fit!.Residuals) is > 0 and var iqr ? iqr : 1;
        Func<Random, double> noise = noisy
            ? rng => fit!.Residuals[rng.Next(fit.Residuals.Count)]
            : rng => unit / StudentT3Iqr * MemorySimulator.StudentT3(rng);
        var level = fit?.Level ?? 100 * unit;

        var cases = fit?.Effect is { } effect && noisy
            ? new List<(string, double)> { ($"the change the basis measured ({Describe(scale, Math.Abs(effect))})", effect) }
            : [($"a change of min-effect ({Describe(scale, unit)})", sign * unit), (string.Create(CultureInfo.InvariantCulture, $"a large change ({LargeChange:0} × min-effect)"), sign * LargeChange * unit)];

        var recipeSlot = recipe.Sampling.Warmup.TotalSeconds + recipe.Sampling.Window.TotalSeconds;
        var trialSeconds = fit?.TrialSeconds ?? recipeSlot;
        var trialTime = fit?.TrialSeconds is null
            ? "warm-up + window from the recipe; the daemon's start-up is not measured yet"
            : $"median of {fit.TrialCount} stored trial(s)";
        var buildSeconds = fit?.BuildSeconds;
        var planned = new List<PlanCase>();
        foreach (var (change, shift) in cases)
        {
            planned.Add(await SimulateCaseAsync(change, shift, level, noise, candidates, options, cached, trialSeconds, buildSeconds ?? 0, ct));
        }

        var description = fit?.Description
            ?? "none: nothing measured with this recipe in this results folder yet, so the noise is assumed (Student-t, IQR = min-effect) and the plan shows a min-effect change against a large one; the real run re-plans after its first round";
        var cachedCount = Enumerable.Range(0, candidates + 1).Count(cached);
        return new CostPlan(stage, fit?.Basis ?? PlanBasis.None, description, candidates, workers, options.Workers, trialSeconds, trialTime, buildSeconds,
            cachedCount, Seeds, planned);
    }

    private static async Task<PlanCase> SimulateCaseAsync(
        string change, double effect, double level, Func<Random, double> noise, int n, SearchOptions options, Func<int, bool> cached,
        double trialSeconds, double buildSeconds, CancellationToken ct)
    {
        var trials = new double[Seeds];
        var rounds = new double[Seeds];
        var seconds = new double[Seeds];
        var named = new bool[Seeds];
        // Seeds are independent and the search is pure: they run on every core (a plan is waited for before the run).
        await Parallel.ForAsync(0, Seeds, ct, async (s, token) =>
        {
            var seed = s + 1;
            var culprit = new Random(seed * 7919 + n).Next(1, n + 1);
            var wants = new TrialWants();
            var values = new Dictionary<int, List<double>>();
            var built = new HashSet<int>();
            var wall = 0.0;

            Task<IReadOnlyList<PositionEvidence>> Measure(IReadOnlyList<MeasureRequest> requests, CancellationToken token)
            {
                token.ThrowIfCancellationRequested();
                var lists = requests.Select(r => values.TryGetValue(r.Position, out var l) ? l : values[r.Position] = []).ToArray();
                var missing = requests.Select((r, k) => wants.Missing(r.Position, wants.After(r.Position, r.AdditionalTrials), lists[k].Count)).ToArray();
                wall += requests.Count(r => built.Add(r.Position) && !cached(r.Position)) * buildSeconds;
                var counts = WorkerSlots.Fill(missing, options.Workers);
                for (var k = 0; k < requests.Count; k++)
                {
                    var p = requests[k].Position;
                    for (var i = 0; i < counts[k]; i++)
                    {
                        var rng = new Random(MemorySimulator.Mix(seed, p, lists[k].Count));
                        lists[k].Add(level + (p >= culprit ? effect : 0) + noise(rng));
                    }
                }

                wall += Math.Ceiling(counts.Sum() / (double)options.Workers) * trialSeconds;
                return Task.FromResult(wants.Handed(requests.Select((r, k) =>
                    new PositionEvidence(r.Position, false, Enumerable.Repeat(Empty, lists[k].Count).ToArray()) { Features = lists[k].ToArray() }).ToArray()));
            }

            var outcome = await SearchEngine.RunAsync(n, Measure, options, token).ConfigureAwait(false);
            trials[s] = outcome.TrialsSpent;
            rounds[s] = outcome.Rounds.Count;
            seconds[s] = wall;
            named[s] = outcome.Status is SearchStatus.Found or SearchStatus.FoundRange;
        }).ConfigureAwait(false);

        return new PlanCase(change, effect, Spread.Of(trials), Spread.Of(rounds), Spread.Of(seconds), named.Count(x => x) / (double)Seeds);
    }

    private static string Describe(FeatureScale scale, double value) => scale.Format(value);
}
