using System.Globalization;
using System.Text;
using Bisector.Recipes;
using Bisector.Statistics;

namespace Bisector.Search.Simulation;

/// <param name="Seeds">Seeds per setting; every method sees the same seeds and therefore the same trials.</param>
/// <param name="EffectInIqr">Effect size in IQRs of the Pinpoint scalar of a good build.</param>
/// <param name="ExhaustiveUpTo">The exhaustive strategy is only run for ranges up to this size (it measures everything).</param>
/// <param name="MinEffectShare">Bisector's (and git bisect's) minimum effect as a share of the simulated effect. 1 tells
/// them what Pinpoint's fixed power thresholds are built for — a change of 1 IQR is the one that matters — so every
/// method answers the same question; smaller shares ask Bisector for more (no regression even half that size) and
/// cost trials on A/A runs.</param>
public sealed record BenchmarkOptions(
    int Seeds = 200,
    IReadOnlyList<int>? Sizes = null,
    int Workers = 3,
    double EffectInIqr = 1.0,
    int ExhaustiveUpTo = 100,
    int FirstSeed = 1,
    double MinEffectShare = 1.0);

/// <summary>
/// Runs Bisector's strategies and the two baselines over seeded simulations — a level step, a growth-rate change and an
/// A/A series with no change — and returns a Markdown table of culprit accuracy, false positives, trials and rounds.
/// </summary>
public static class SearchBenchmark
{
    /// <summary>The oracle stops at a posterior of 1 − ε (99 % accuracy).</summary>
    public const double OracleEpsilon = 0.01;

    private sealed record Row(string Setting, string Method, int Runs, int Correct, int Wrong, int Ranges, int NoCall, double Trials, double Rounds);

    public static async Task<string> RunAsync(BenchmarkOptions options, CancellationToken ct = default)
    {
        var sizes = options.Sizes ?? [10, 100, 1000];
        var template = new SimulationScenario(10, null, 0, 0, []);
        var iqr = MemorySimulator.ScalarIqr(template);
        var step = options.EffectInIqr * iqr;
        // Same shift of the mean over the window as the step, but as growth: mean of t over [warm-up, window] is their midpoint.
        var slope = step * 60 / ((template.WarmupSeconds + template.WindowSeconds) / 2);
        var rows = new List<Row>();
        var oracles = new List<string>();
        var started = DateTime.UtcNow;

        foreach (var size in sizes)
        {
            foreach (var (label, feature, levelStep, slopeStep, hasCulprit) in new[]
                     {
                         ("level step", FeatureKind.Level, step, 0.0, true),
                         ("slope change", FeatureKind.Slope, 0.0, slope, true),
                         ("A/A (no change)", FeatureKind.Level, 0.0, 0.0, false),
                     })
            {
                var effectInFeature = feature == FeatureKind.Slope ? slope : step;
                var decision = new DecisionSpec("vm_rss", feature, RegressionDirection.Increase, options.MinEffectShare * effectInFeature);
                var setting = $"N={size}, {label}";
                var methods = new List<(string Name, Func<MemorySimulator, Task<(SearchStatus, int, int, int, int)>> Run)>
                {
                    ("Bisector bisect", s => RunEngine(s, SearchStrategy.Bisect, 1, decision, template.WarmupSeconds, ct)),
                    ($"Bisector k-ary (W={options.Workers})", s => RunEngine(s, SearchStrategy.Kary, options.Workers, decision, template.WarmupSeconds, ct)),
                };
                if (hasCulprit)
                {
                    var oracle = new KnownLevelsOracle(MakeScenario(size, 0, true, levelStep, slopeStep), feature);
                    oracles.Add(string.Create(CultureInfo.InvariantCulture,
                        $"{setting}: known-levels oracle ≈ {oracle.Approximation(size, OracleEpsilon):0.0} trials by log₂N/C + 2 ln(1/ε)/D (C = {oracle.CapacityBits:0.###} bits, D = {oracle.DivergenceNats:0.###} nats a trial, ε = {OracleEpsilon})"));
                    methods.Insert(0, ("Oracle: known levels, 1 trial at the median", s =>
                    {
                        var (culprit, t) = oracle.Search(s, feature, OracleEpsilon);
                        return Task.FromResult(culprit > 0 ? (SearchStatus.Found, culprit, culprit, t, t) : (SearchStatus.Undecided, 0, 0, t, t));
                    }
                    ));
                }
                if (size <= options.ExhaustiveUpTo)
                    methods.Add(("Bisector exhaustive", s => RunEngine(s, SearchStrategy.Exhaustive, options.Workers, decision, template.WarmupSeconds, ct)));
                methods.Add(("git bisect (1 trial, fixed threshold)", s => Task.FromResult(Score(Baselines.GitBisect(s, decision, template.WarmupSeconds)))));
                methods.Add(("Pinpoint-like (min(KS,MWU), 10→160)", s => Task.FromResult(Score(Baselines.Pinpoint(s, template.WarmupSeconds)))));

                foreach (var (name, run) in methods)
                {
                    int correct = 0, wrong = 0, ranges = 0, noCall = 0;
                    double trials = 0, rounds = 0;
                    for (var k = 0; k < options.Seeds; k++)
                    {
                        ct.ThrowIfCancellationRequested();
                        var seed = options.FirstSeed + k;
                        var scenario = MakeScenario(size, seed, hasCulprit, levelStep, slopeStep);
                        var (status, first, last, t, r) = await run(new MemorySimulator(scenario, seed)).ConfigureAwait(false);
                        trials += t;
                        rounds += r;
                        var named = status is SearchStatus.Found or SearchStatus.FoundRange;
                        if (status == SearchStatus.FoundRange) ranges++;
                        if (!named) noCall++;
                        else if (scenario.Culprit is { } c && first <= c && c <= last) correct++;
                        else wrong++;
                    }
                    rows.Add(new Row(setting, name, options.Seeds, correct, wrong, ranges, noCall, trials / options.Seeds, rounds / options.Seeds));
                }
            }
        }
        return Render(rows, options, iqr, step, slope, DateTime.UtcNow - started) + Environment.NewLine + string.Join(Environment.NewLine, oracles.Select(o => "- " + o)) + Environment.NewLine;
    }

    /// <summary>Culprit uniform over 1..N; about 3% of the other positions (at least one) unbuildable, one of them
    /// sometimes right before the culprit so blame ranges occur.</summary>
    public static SimulationScenario MakeScenario(int size, int seed, bool hasCulprit, double levelStep, double slope)
    {
        var rng = new Random(seed * 7919 + size);
        var culprit = rng.Next(1, size + 1);
        var unbuildable = new HashSet<int>();
        if (size >= 4)
        {
            var count = Math.Max(1, size * 3 / 100);
            while (unbuildable.Count < count)
            {
                var p = rng.Next(1, size);
                if (p != culprit) unbuildable.Add(p);
            }
        }
        return new SimulationScenario(size, hasCulprit ? culprit : null, levelStep, slope, unbuildable.Order().ToArray());
    }

    private static async Task<(SearchStatus, int, int, int, int)> RunEngine(MemorySimulator sim, SearchStrategy strategy, int workers,
        DecisionSpec decision, double warmup, CancellationToken ct)
    {
        var options = new SearchOptions(strategy, workers, decision, warmup);
        var outcome = await SearchEngine.RunAsync(sim.Scenario.Candidates, sim.MeasureAsync, options, ct).ConfigureAwait(false);
        if (Environment.GetEnvironmentVariable("BISECTOR_TRACE") is not null)
            Console.Error.WriteLine($"TRACE N={sim.Scenario.Candidates} culprit={sim.Scenario.Culprit} {strategy} trials={outcome.TrialsSpent} {outcome.Summary}\n  " + string.Join("\n  ", outcome.Rounds.Select(r => r.Reason)));
        return (outcome.Status, outcome.RangeFirst, outcome.RangeLast, outcome.TrialsSpent, outcome.Rounds.Count);
    }

    private static (SearchStatus, int, int, int, int) Score(BaselineOutcome o) => (o.Status, o.RangeFirst, o.RangeLast, o.Trials, o.Rounds);

    private static string Render(List<Row> rows, BenchmarkOptions o, double iqr, double step, double slope, TimeSpan elapsed)
    {
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine(c, $"Seeds per setting: {o.Seeds} (first {o.FirstSeed}); effect = {o.EffectInIqr} IQR of the Pinpoint scalar " +
                         $"(IQR = {iqr / 1024:0} KiB → level step {step / 1024:0} KiB, or slope {slope / 1024:0} KiB/min); " +
                         $"Student-t ν=3 noise, 4 KiB pages, ~3% unbuildable commits; Bisector: trials sized by the evidence (at most 5 a look), cap 40, α = 0.01 per search, confidence 0.95, feature `level` (step, A/A) or `slope`, " +
                         $"min effect = {o.MinEffectShare:0.##} × the effect. " +
                         $"Elapsed {elapsed.TotalSeconds:0} s.");
        sb.AppendLine();
        sb.AppendLine("| Setting | Method | Culprit correct | Wrong culprit | Blame ranges | No call | Mean trials | Mean rounds |");
        sb.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|");
        foreach (var r in rows)
        {
            var aa = r.Setting.Contains("A/A", StringComparison.Ordinal);
            var correct = aa ? "—" : Pct(r.Correct, r.Runs);
            var wrong = aa ? $"FP {Pct(r.Wrong, r.Runs)}" : Pct(r.Wrong, r.Runs);
            sb.AppendLine(c, $"| {r.Setting} | {r.Method} | {correct} | {wrong} | {r.Ranges} | {Pct(r.NoCall, r.Runs)} | {r.Trials:0.0} | {r.Rounds:0.0} |");
        }
        return sb.ToString();

        string Pct(int k, int n) => string.Create(c, $"{100.0 * k / n:0.0}%");
    }
}
