using System.Globalization;
using System.Text;
using Bisector.Recipes;
using Bisector.Statistics;

namespace Bisector.Search.Simulation;

/// <summary>The stored per-trial features of one finished run: what a replay resamples.</summary>
/// <param name="Culprit">The run's culprit (its first bad position), or null for a range without a regression.</param>
/// <param name="Values">Feature value of every stored trial, by position.</param>
/// <param name="TrialSeconds">Length of one trial (warm-up + window), to turn trial slots into wall time.</param>
public sealed record ReplaySource(string Name, int Candidates, int? Culprit, IReadOnlyDictionary<int, double[]> Values,
    DecisionSpec Decision, int Repeats, int Cap, double TrialSeconds)
{
    /// <summary>The trials a position is resampled from: its own, or — never measured in the stored run — all trials
    /// of the measured positions on its side of the stored culprit.</summary>
    public double[] Pool(int position)
    {
        if (Values.TryGetValue(position, out var own) && own.Length > 0)
            return own;
        var bad = Culprit is { } c && position >= c;
        return Values.Where(kv => Culprit is not { } k || (kv.Key >= k) == bad).SelectMany(kv => kv.Value).ToArray();
    }
}

/// <summary>
/// Re-runs the search on stored per-trial features instead of real trials: each position's trial k of seed s is drawn
/// (with replacement) from that position's stored trials, so a change to the search is measured on real data — the demo,
/// the journald runs, any user's run — in seconds instead of hours. Trial slots count what W workers would need: a round
/// of t trials takes ⌈t / W⌉ slots.
/// </summary>
public static class ReplayBenchmark
{
    public const string JournaldResource = "Bisector.Search.journald-slopes.tsv";

    /// <summary>Runs 1, 2 and 4 of docs/case-journald.md (bench/journald-slopes.tsv, embedded).</summary>
    public static IReadOnlyList<ReplaySource> Journald()
    {
        using var stream = typeof(ReplayBenchmark).Assembly.GetManifestResourceStream(JournaldResource)
            ?? throw new InvalidOperationException($"resource {JournaldResource} is missing from the build");
        using var reader = new StreamReader(stream);
        return ParseJournald(reader.ReadToEnd());
    }

    private const double Mebibyte = 1024.0 * 1024.0;

    internal static IReadOnlyList<ReplaySource> ParseJournald(string text)
    {
        var runs = new Dictionary<string, Dictionary<int, double[]>>();
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0 || line.StartsWith('#'))
                continue;
            var cells = line.Split('\t');
            var run = runs.TryGetValue(cells[0], out var r) ? r : runs[cells[0]] = new Dictionary<int, double[]>();
            // The file states MiB/min; the engine and its explanations take rss_anon's stored unit, bytes (a replay of
            // the file in MiB/min printed every shift as "0.0 MiB/min").
            run[int.Parse(cells[1], CultureInfo.InvariantCulture)] = cells[2..].Select(v => double.Parse(v, CultureInfo.InvariantCulture) * Mebibyte).ToArray();
        }
        // min-effect 200 KiB/min; 60 s warm-up + 120 s window per trial.
        var decision = new DecisionSpec("rss_anon", FeatureKind.Slope, RegressionDirection.Increase, 200.0 * 1024);
        return runs.Select(kv => new ReplaySource($"journald {kv.Key}", 11, 11, kv.Value, decision, 5, 12, 180)).ToArray();
    }

    public sealed record Result(ReplaySource Source, int Seeds, int Workers, int Correct, int Wrong, int NoCall, double Trials, double Slots, double Rounds, double MaxSlots);

    public static async Task<Result> RunAsync(ReplaySource source, int seeds, int workers, int firstSeed = 1, CancellationToken ct = default)
    {
        int correct = 0, wrong = 0, noCall = 0;
        double trials = 0, slots = 0, rounds = 0, maxSlots = 0;
        for (var s = 0; s < seeds; s++)
        {
            ct.ThrowIfCancellationRequested();
            var seed = firstSeed + s;
            var taken = new Dictionary<int, List<double>>();
            var runSlots = 0;
            Task<IReadOnlyList<PositionEvidence>> Measure(IReadOnlyList<MeasureRequest> requests, CancellationToken token)
            {
                var added = 0;
                var result = new List<PositionEvidence>();
                // A real round keeps every worker busy: the measurer raises the requested counts as a run does, and
                // the search is handed the extra trials too.
                var counts = WorkerSlots.Fill(requests.Select(r => r.AdditionalTrials).ToArray(), workers);
                for (var i = 0; i < requests.Count; i++)
                {
                    var r = requests[i];
                    var list = taken.TryGetValue(r.Position, out var l) ? l : taken[r.Position] = new List<double>();
                    var pool = source.Pool(r.Position);
                    for (var k = 0; k < counts[i]; k++)
                    {
                        var rng = new Random(MemorySimulator.Mix(seed, r.Position, list.Count));
                        list.Add(pool[rng.Next(pool.Length)]);
                        added++;
                    }
                    result.Add(new PositionEvidence(r.Position, false, list.Select(_ => Empty).ToArray()) { Features = list.ToArray() });
                }
                runSlots += (added + workers - 1) / workers;
                return Task.FromResult<IReadOnlyList<PositionEvidence>>(result);
            }

            var options = new SearchOptions(SearchStrategy.Bisect, workers, source.Decision, 0, source.Repeats, source.Cap);
            var outcome = await SearchEngine.RunAsync(source.Candidates, Measure, options, ct).ConfigureAwait(false);
            trials += outcome.TrialsSpent;
            slots += runSlots;
            maxSlots = Math.Max(maxSlots, runSlots);
            rounds += outcome.Rounds.Count;
            var named = outcome.Status is SearchStatus.Found or SearchStatus.FoundRange;
            if (!named) noCall++;
            else if (source.Culprit is { } c && outcome.RangeFirst <= c && c <= outcome.RangeLast) correct++;
            else wrong++;
            if ((named && outcome.RangeLast != source.Culprit || Environment.GetEnvironmentVariable("BISECTOR_TRACE") == "all") && Environment.GetEnvironmentVariable("BISECTOR_TRACE") is not null)
                Console.Error.WriteLine($"TRACE {source.Name} seed {seed}: {outcome.Summary}\n  " + string.Join("\n  ", outcome.Rounds.Select(r => r.Reason))
                    + "\n  " + string.Join("; ", taken.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key}: {string.Join(" ", kv.Value)}")));
        }
        return new Result(source, seeds, workers, correct, wrong, noCall, trials / seeds, slots / seeds, rounds / seeds, maxSlots);
    }

    private static readonly TrialSeries Empty = new([], []);

    /// <summary>Positions between the ends with exactly one stored trial: a resample of them is a point mass, tighter than
    /// the build it stands for, and the step to a neighbour resampled from a few trials can become a change of its own
    /// (run 25's replays: position 7's one 0.00 against position 8's 0.27, 0.12 and 0.00 named 8 in 7 of 400).</summary>
    public static IReadOnlyList<int> SingleTrialPositions(ReplaySource source) =>
        source.Values.Where(kv => kv.Key > 0 && kv.Key < source.Candidates && kv.Value.Length == 1).Select(kv => kv.Key).Order().ToList();

    public static string Render(IReadOnlyList<Result> results)
    {
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine("| Source | Seeds | W | Culprit correct | Wrong | No call | Mean trials | Mean trial slots (max) | Mean rounds | Wall time of the slots |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in results)
        {
            var wall = TimeSpan.FromSeconds(r.Slots * r.Source.TrialSeconds);
            sb.AppendLine(c, $"| {r.Source.Name} | {r.Seeds} | {r.Workers} | {Pct(r.Correct, r.Seeds)} | {Pct(r.Wrong, r.Seeds)} | {Pct(r.NoCall, r.Seeds)} | {r.Trials:0.0} | {r.Slots:0.0} ({r.MaxSlots:0}) | {r.Rounds:0.0} | {wall.TotalMinutes:0} min |");
        }
        foreach (var r in results)
        {
            if (SingleTrialPositions(r.Source) is { Count: > 0 } single)
                sb.AppendLine(c, $"\n{r.Source.Name}: position(s) {string.Join(", ", single)} have one stored trial each, so every resample of them repeats it exactly; a 'wrong' culprit next to one can be a change the resampled data really hold (journald run 25, docs/case-journald.md).");
        }
        return sb.ToString();

        string Pct(int k, int n) => string.Create(c, $"{100.0 * k / n:0.0}%");
    }
}
