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
    double MinEffectShare = 1.0,
    IReadOnlyList<string>? Methods = null)
{
    /// <summary>The method keys <see cref="Methods"/> may name.</summary>
    public static readonly IReadOnlyList<string> MethodKeys = ["oracle", "bisect", "kary", "exhaustive", "git", "pinpoint"];

    internal bool Runs(string key) => Methods is null || Methods.Contains(key, StringComparer.OrdinalIgnoreCase);
}

/// <summary>
/// Runs Bisector's strategies and the two baselines over seeded simulations — a level step, a growth-rate change and an
/// A/A series with no change — and returns a Markdown table of culprit accuracy, false positives, trials and rounds.
/// </summary>
public static class SearchBenchmark
{
    /// <summary>The oracle stops at a posterior of 1 − ε (99 % accuracy).</summary>
    public const double OracleEpsilon = 0.01;

    private sealed record Row(string Setting, string Method, int Runs, int Correct, int Wrong, int Ranges, int NoCall, double Trials, double Rounds, TrialPhases? Phases);

    /// <summary>Where a search's trials went: the ends before a regression was shown, probes the search chose, trials
    /// that filled idle workers, and the fresh trials of verification.</summary>
    public sealed record TrialPhases(double Ends, double Probes, double Fill, double Verify)
    {
        public static TrialPhases Of(SearchOutcome outcome, int candidates)
        {
            double ends = 0, probes = 0, fill = 0, verify = 0;
            foreach (var round in outcome.Rounds)
            {
                for (var i = 0; i < round.Requested.Count; i++)
                {
                    var r = round.Requested[i];
                    if (round.Reason.StartsWith("verify", StringComparison.Ordinal))
                        verify += r.AdditionalTrials;
                    else if (r.Position == 0 || r.Position == candidates)
                        ends += r.AdditionalTrials;
                    else if (IsProbe(round, i, outcome.Strategy))
                        probes += r.AdditionalTrials;
                    else
                        fill += r.AdditionalTrials;
                }
            }
            return new TrialPhases(ends, probes, fill, verify);
        }

        private static bool IsProbe(SearchRound round, int index, SearchStrategy strategy) =>
            round.Reason.StartsWith("posterior", StringComparison.Ordinal) && (index == 0 || strategy != SearchStrategy.Bisect)
            || round.Reason.StartsWith("exhaustive", StringComparison.Ordinal);

        public TrialPhases Plus(TrialPhases o) => new(Ends + o.Ends, Probes + o.Probes, Fill + o.Fill, Verify + o.Verify);
        public TrialPhases Over(double k) => new(Ends / k, Probes / k, Fill / k, Verify / k);
    }

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
                var methods = new List<(string Key, string Name, Func<MemorySimulator, Task<Result>> Run)>
                {
                    ("bisect", "Bisector bisect", s => RunEngine(s, SearchStrategy.Bisect, 1, decision, template.WarmupSeconds, ct)),
                    ("kary", $"Bisector k-ary (W={options.Workers})", s => RunEngine(s, SearchStrategy.Kary, options.Workers, decision, template.WarmupSeconds, ct)),
                };
                if (hasCulprit && options.Runs("oracle"))
                {
                    var oracle = new KnownLevelsOracle(MakeScenario(size, 0, true, levelStep, slopeStep), feature);
                    oracles.Add(string.Create(CultureInfo.InvariantCulture,
                        $"{setting}: known-levels oracle ≈ {oracle.Approximation(size, OracleEpsilon):0.0} trials by log₂N/C + 2 ln(1/ε)/D (C = {oracle.CapacityBits:0.###} bits, D = {oracle.DivergenceNats:0.###} nats a trial, ε = {OracleEpsilon})"));
                    methods.Insert(0, ("oracle", "Oracle: known levels, 1 trial at the median", s =>
                    {
                        var (culprit, t) = oracle.Search(s, feature, OracleEpsilon);
                        return Task.FromResult(culprit > 0 ? new Result(SearchStatus.Found, culprit, culprit, t, t, null) : new Result(SearchStatus.Undecided, 0, 0, t, t, null));
                    }
                    ));
                }
                if (size <= options.ExhaustiveUpTo)
                    methods.Add(("exhaustive", "Bisector exhaustive", s => RunEngine(s, SearchStrategy.Exhaustive, options.Workers, decision, template.WarmupSeconds, ct)));
                methods.Add(("git", "git bisect (1 trial, fixed threshold)", s => Task.FromResult(Score(Baselines.GitBisect(s, decision, template.WarmupSeconds)))));
                methods.Add(("pinpoint", "Pinpoint-like (min(KS,MWU), 10→160)", s => Task.FromResult(Score(Baselines.Pinpoint(s, template.WarmupSeconds)))));

                foreach (var (key, name, run) in methods.Where(m => options.Runs(m.Key)))
                {
                    int correct = 0, wrong = 0, ranges = 0, noCall = 0;
                    double trials = 0, rounds = 0;
                    TrialPhases? phases = null;
                    for (var k = 0; k < options.Seeds; k++)
                    {
                        ct.ThrowIfCancellationRequested();
                        var seed = options.FirstSeed + k;
                        var scenario = MakeScenario(size, seed, hasCulprit, levelStep, slopeStep);
                        var (status, first, last, t, r, ph) = await run(new MemorySimulator(scenario, seed)).ConfigureAwait(false);
                        if (ph is not null)
                            phases = phases is null ? ph : phases.Plus(ph);
                        trials += t;
                        rounds += r;
                        var named = status is SearchStatus.Found or SearchStatus.FoundRange;
                        if (status == SearchStatus.FoundRange) ranges++;
                        if (!named) noCall++;
                        else if (scenario.Culprit is { } c && first <= c && c <= last) correct++;
                        else wrong++;
                    }
                    rows.Add(new Row(setting, name, options.Seeds, correct, wrong, ranges, noCall, trials / options.Seeds, rounds / options.Seeds, phases?.Over(options.Seeds)));
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

    private sealed record Result(SearchStatus Status, int First, int Last, int Trials, int Rounds, TrialPhases? Phases);

    private static async Task<Result> RunEngine(MemorySimulator sim, SearchStrategy strategy, int workers,
        DecisionSpec decision, double warmup, CancellationToken ct)
    {
        var options = new SearchOptions(strategy, workers, decision, warmup);
        var outcome = await SearchEngine.RunAsync(sim.Scenario.Candidates, sim.MeasureAsync, options, ct).ConfigureAwait(false);
        if (Environment.GetEnvironmentVariable("BISECTOR_TRACE") is not null)
            Console.Error.WriteLine($"TRACE N={sim.Scenario.Candidates} seed={sim.Seed} culprit={sim.Scenario.Culprit} {strategy} trials={outcome.TrialsSpent} {outcome.Summary}\n  " + string.Join("\n  ", outcome.Rounds.Select(r => r.Reason)));
        return new Result(outcome.Status, outcome.RangeFirst, outcome.RangeLast, outcome.TrialsSpent, outcome.Rounds.Count,
            TrialPhases.Of(outcome, sim.Scenario.Candidates));
    }

    private static Result Score(BaselineOutcome o) => new(o.Status, o.RangeFirst, o.RangeLast, o.Trials, o.Rounds, null);

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
        var phased = rows.Where(r => r.Phases is not null).ToArray();
        if (phased.Length > 0)
        {
            sb.AppendLine();
            sb.AppendLine("Where Bisector's trials went (mean a search, as requested): the ends before a regression was shown, probes the search chose, one-trial fills of idle workers, fresh trials of verification.");
            sb.AppendLine();
            sb.AppendLine("| Setting | Method | Ends | Probes | Fill | Verification |");
            sb.AppendLine("|---|---|---:|---:|---:|---:|");
            foreach (var r in phased)
                sb.AppendLine(c, $"| {r.Setting} | {r.Method} | {r.Phases!.Ends:0.0} | {r.Phases.Probes:0.0} | {r.Phases.Fill:0.0} | {r.Phases.Verify:0.0} |");
        }
        return sb.ToString();

        string Pct(int k, int n) => string.Create(c, $"{100.0 * k / n:0.0}%");
    }
}
