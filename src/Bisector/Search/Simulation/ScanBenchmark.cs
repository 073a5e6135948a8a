using System.Globalization;
using System.Text;
using Bisector.Recipes;
using Bisector.Statistics;

namespace Bisector.Search.Simulation;

/// <summary>
/// The scan for further changes (<see cref="RangeScan"/>) on seeded simulations, as a run does it: the search first,
/// then, when it named one culprit, the scan with the run's budget (<see cref="RangeScan.Budget"/>) on the same trials.
/// Three ranges: one change (every change the scan reports is false), two changes in the recipe's direction (the
/// earlier one is the answer), and a rise followed by a partial fix. What it measures is what docs/benchmarks-search.md
/// "Several changes in one range" derives (the scan's false claims together below α) or leaves open (a false "partial
/// fix" pushed by the culprit's selected trials).
/// </summary>
public static class ScanBenchmark
{
    /// <summary>One range to simulate: the first change (the culprit) and what follows it, in effect units.</summary>
    private sealed record Kind(string Name, double First, double? Second);

    private static readonly Kind[] Kinds =
    [
        new("one change", 1, null),
        new("two changes, both worse", 1, 1),
        new("a rise, then a partial fix (2, then −1)", 2, -1),
    ];

    public sealed record Row(string Setting, int Seeds, int Named, int AnswerRight, int BothFound, int SearchWrong, int FalseWorse, int FalseBetter,
        int Undecided, int NotChecked, double Searches, double NewTrials, double SearchTrials);

    public static async Task<string> RunAsync(int seeds, IReadOnlyList<int> sizes, double effectInIqr, int firstSeed = 1, CancellationToken ct = default)
    {
        var started = DateTime.UtcNow;
        var step = Step(effectInIqr);
        var rows = await MeasureStepAsync(seeds, sizes, step, firstSeed, ct).ConfigureAwait(false);
        return Render(rows, seeds, firstSeed, effectInIqr, step, DateTime.UtcNow - started);
    }

    private static readonly SimulationScenario Template = new(10, null, 0, 0, []);

    /// <summary>The effect in bytes: <paramref name="effectInIqr"/> IQRs of the Pinpoint scalar, estimated from 2,000
    /// simulated trials (so computed once a run).</summary>
    private static double Step(double effectInIqr) => effectInIqr * MemorySimulator.ScalarIqr(Template);

    /// <summary>One row a size and range kind, in the order of <paramref name="sizes"/>, then one change, two worse
    /// changes, a rise and a partial fix.</summary>
    public static Task<IReadOnlyList<Row>> MeasureAsync(int seeds, IReadOnlyList<int> sizes, double effectInIqr, int firstSeed = 1, CancellationToken ct = default) =>
        MeasureStepAsync(seeds, sizes, Step(effectInIqr), firstSeed, ct);

    private static async Task<IReadOnlyList<Row>> MeasureStepAsync(int seeds, IReadOnlyList<int> sizes, double step, int firstSeed, CancellationToken ct)
    {
        var decision = new DecisionSpec("vm_rss", FeatureKind.Level, RegressionDirection.Increase, step);
        var rows = new List<Row>();
        foreach (var size in sizes)
        {
            foreach (var kind in Kinds)
            {
                int named = 0, right = 0, both = 0, searchWrong = 0, falseWorse = 0, falseBetter = 0, undecided = 0, notChecked = 0;
                double searches = 0, newTrials = 0, searchTrials = 0;
                for (var k = 0; k < seeds; k++)
                {
                    ct.ThrowIfCancellationRequested();
                    var seed = firstSeed + k;
                    var scenario = Scenario(size, seed, kind, step);
                    var sim = new MemorySimulator(scenario, seed);
                    var options = new SearchOptions(SearchStrategy.Bisect, 1, decision, Template.WarmupSeconds);
                    var outcome = await SearchEngine.RunAsync(size, sim.MeasureAsync, options, ct).ConfigureAwait(false);
                    searchTrials += outcome.TrialsSpent;
                    var scan = await RangeScan.RunAsync(size, outcome, sim.EnsureAsync, sim.OkTrials, options, RangeScan.Budget(outcome), ct).ConfigureAwait(false);
                    if (scan is null)
                        continue;
                    named++;
                    var truth = Truth(scenario);
                    var answerRight = scan.Answer is { } answer && Holds(answer, scenario.Culprit!.Value);
                    if (answerRight)
                        right++;
                    // The search's own culprit counts like the scan's changes: with two changes it may have named the later one.
                    var missed = !truth.All(t => scan.Changes.Any(c => c.Direction == t.Direction && Holds(c, t.Position)));
                    if (scenario.LaterChanges is not null && !missed)
                        both++;
                    var wrong = scan.Changes.Where(c => !truth.Any(t => t.Direction == c.Direction && Holds(c, t.Position))).ToArray();
                    // The search's own culprit where the range has no change (a one-change model in a range with two can
                    // land between them) is the search's error; the scan's claims are the ones its α/2^k covers.
                    if (wrong.Any(c => c.FoundBySearch)) searchWrong++;
                    if (wrong.Any(c => !c.FoundBySearch && c.Direction == ChangeDirection.Worse)) falseWorse++;
                    if (wrong.Any(c => !c.FoundBySearch && c.Direction == ChangeDirection.Better)) falseBetter++;
                    if (scan.Segments.Any(s => s.Verdict == SegmentVerdict.Undecided)) undecided++;
                    if (scan.Segments.Any(s => s.Verdict == SegmentVerdict.NotChecked)) notChecked++;
                    searches += scan.Segments.Count(s => s.Verdict is not (SegmentVerdict.Empty or SegmentVerdict.NotChecked));
                    newTrials += scan.NewTrials;
                    if ((wrong.Length > 0 || missed || !answerRight) && Environment.GetEnvironmentVariable("BISECTOR_TRACE") is not null)
                        Console.Error.WriteLine($"TRACE scan N={size} seed={seed} {kind.Name}: changes at {string.Join(", ", truth.Select(t => $"{t.Position} {t.Direction}"))}; reported {string.Join(", ", scan.Changes.Select(c => $"{c.RangeFirst}..{c.Position} {c.Direction}"))}\n  "
                            + string.Join("\n  ", scan.Segments.Select(s => $"{s.From}..{s.To} {s.Direction}: {s.Explanation}")));
                }
                rows.Add(new Row($"N={size}, {kind.Name}", seeds, named, right, both, searchWrong, falseWorse, falseBetter, undecided, notChecked,
                    named == 0 ? 0 : searches / named, named == 0 ? 0 : newTrials / named, searchTrials / seeds));
            }
        }
        return rows;
    }

    /// <summary>The culprit uniform over the first half of 1..N (the bench's unbuildable commits as in <see
    /// cref="SearchBenchmark.MakeScenario"/>); a second change, when there is one, uniform over the positions at least 3
    /// after it, so each change has a candidate of its own between them.</summary>
    private static SimulationScenario Scenario(int size, int seed, Kind kind, double step)
    {
        var basis = SearchBenchmark.MakeScenario(size, seed, true, kind.First * step, 0);
        var rng = new Random(seed * 104_729 + size);
        var culprit = rng.Next(1, Math.Max(2, size / 2 + 1));
        var unbuildable = basis.Unbuildable.Where(p => p != culprit).ToList();
        if (kind.Second is not { } second)
            return basis with { Culprit = culprit, Unbuildable = unbuildable };
        var at = rng.Next(Math.Min(culprit + 3, size), size + 1);
        return basis with
        {
            Culprit = culprit,
            Unbuildable = unbuildable.Where(p => p != at).ToList(),
            LaterChanges = [new LevelChange(at, second * step)],
        };
    }

    private static IReadOnlyList<(int Position, ChangeDirection Direction)> Truth(SimulationScenario s) =>
        (s.LaterChanges ?? []).Select(c => (c.Position, Direction(c.Step))).Prepend((s.Culprit!.Value, ChangeDirection.Worse)).ToArray();

    private static ChangeDirection Direction(double step) => step > 0 ? ChangeDirection.Worse : ChangeDirection.Better;

    /// <summary>A reported change holds position <paramref name="p"/> (with unbuildable commits before it, a range).</summary>
    private static bool Holds(RangeChange c, int p) => c.RangeFirst <= p && p <= c.Position;

    private static string Render(IReadOnlyList<Row> rows, int seeds, int firstSeed, double effect, double step, TimeSpan elapsed)
    {
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine(c, $"Scan benchmark: {seeds} seeds per setting (first {firstSeed}); each change {effect:0.##} IQR of the Pinpoint scalar ({step / 1024:0} KiB, the min-effect; the rise of the third range is 2 of them), level feature, Student-t ν=3 noise, ~3 % unbuildable commits; the search on 1 worker at α = 0.01, then the scan with a run's budget ({RangeScan.BudgetPerSearchTrial} × the search's trials, at least {RangeScan.MinBudget}) on the same trials. Elapsed {elapsed.TotalSeconds:0} s.");
        sb.AppendLine();
        sb.AppendLine("Every share but the first is of the searches that named one culprit (the scan runs only then). \"Search's culprit wrong\": the search named a commit where the simulated range has no change. \"Scan's false change\": the scan reported a change where the range has none in that direction — the claims the derivation bounds together below α = 1 % a run (each search at α/2^k).");
        sb.AppendLine();
        sb.AppendLine("| Setting | Culprit named | Answer is the first change | Both changes found | Search's culprit wrong | Scan's false change: worse / better | A segment undecided | A segment not checked | Scan searches | Scan's new trials | Search's trials |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in rows)
        {
            var secondCell = r.Setting.Contains("one change", StringComparison.Ordinal) ? "—" : Pct(r.BothFound, r.Named);
            sb.AppendLine(c, $"| {r.Setting} | {Pct(r.Named, r.Seeds)} | {Pct(r.AnswerRight, r.Named)} | {secondCell} | {Pct(r.SearchWrong, r.Named)} | {Pct(r.FalseWorse, r.Named)} / {Pct(r.FalseBetter, r.Named)} | {Pct(r.Undecided, r.Named)} | {Pct(r.NotChecked, r.Named)} | {r.Searches:0.0} | {r.NewTrials:0.0} | {r.SearchTrials:0.0} |");
        }
        return sb.ToString();

        string Pct(int k, int n) => n == 0 ? "—" : string.Create(c, $"{100.0 * k / n:0.0}%");
    }
}
