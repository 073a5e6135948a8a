using System.Globalization;

namespace Bisector.Statistics;

/// <summary>One cut of a trial: the feature recomputed on every stored trial as if the trial had used
/// <see cref="WarmupSeconds"/> of warm-up and then <see cref="WindowSeconds"/> of window, its separation between the two
/// sides and what measuring a side would cost.</summary>
/// <param name="Separation">|mean bad − mean good| over the pooled standard deviation of the cut feature: what the
/// search's e-value sees.</param>
/// <param name="GoodSpread">Standard deviation of the good side's cut feature (<see cref="BadSpread"/>: the bad side's).</param>
/// <param name="TrialsPerSide">Trials a side for the sequential e-value to reach 1/α at <see cref="WindowSuggestion.KeptSeparation"/> of that separation.</param>
/// <param name="Cost">Seconds of measuring a side: (warm-up + window) × trials.</param>
public sealed record WindowCut(double WarmupSeconds, double WindowSeconds, double Separation, double GoodSpread, double BadSpread, int TrialsPerSide, double Cost)
{
    /// <summary>How long one trial of this cut runs.</summary>
    public double TrialSeconds => WarmupSeconds + WindowSeconds;
}

/// <summary>A cut re-checked by re-running the search on the stored run with every trial's feature taken at that cut
/// (<c>TrialLengthCheck</c>): how often it named the run's culprit, another commit, and the trial slots it needed.</summary>
public sealed record ReplayedCut(double WarmupSeconds, double WindowSeconds, double Correct, double Wrong, double Slots)
{
    public double TrialSeconds => WarmupSeconds + WindowSeconds;

    /// <summary>Seconds of trial slots to the verdict, on average.</summary>
    public double WallSeconds => Slots * TrialSeconds;

    public bool Is(WindowCut cut) => Math.Abs(cut.WarmupSeconds - WarmupSeconds) < 1e-6 && Math.Abs(cut.WindowSeconds - WindowSeconds) < 1e-6;
}

/// <summary>
/// How a feature's separation and noise change when the trials are cut shorter, from stored trials only (no new runs):
/// every good-side and bad-side trial is cut to a shorter warm-up and a shorter window (samples are stored from the
/// daemon's start, warm-up included), the feature recomputed on each, and the cut whose trials-to-decide × trial length
/// is least is suggested, trials counted at <see cref="KeptSeparation"/> of each cut's measured separation. Like is
/// still compared with like: every trial of a run would use the same cut. The separation alone is optimistic for a
/// feature that a short window makes mostly 0 with an occasional step (journald's run 9): when <see cref="Replays"/> are
/// given, the choice rests on them instead — the cut whose replayed searches reach a verdict soonest without naming a
/// wrong commit more often (at most <see cref="WrongAllowance"/> more) or the right one less often (at most
/// <see cref="CorrectAllowance"/> less) than the recipe's own cut.
/// </summary>
public sealed record WindowSuggestion(double WarmupSeconds, double FullWindowSeconds, int GoodTrials, int BadTrials, IReadOnlyList<WindowCut> Cuts)
{
    /// <summary>Trials to decide are counted at this share of each cut's measured separation, so that a cut lucky on a
    /// few trials is not taken for a better one (the recipe's own cut gets the same allowance).</summary>
    public const double KeptSeparation = 0.8;

    /// <summary>Trials a side below which no shorter trial is suggested: resampling fewer says little about the next run
    /// (journald's run 7 had 4 culprit trials and its replays promised a 76 s trial with no wrong culprit; run 9's 90 s
    /// trials named a wrong one in 9.5 % of replays).</summary>
    public const int MinTrialsPerSide = 5;

    /// <summary>How much more often a suggested cut's replays may name a wrong commit than the recipe's own cut's.</summary>
    public const double WrongAllowance = 0.01;

    /// <summary>How much less often a suggested cut's replays may name the run's culprit than the recipe's own cut's.</summary>
    public const double CorrectAllowance = 0.02;

    /// <summary>Cuts re-checked by replaying the search (the recipe's own among them); empty when not replayed.</summary>
    public IReadOnlyList<ReplayedCut> Replays { get; init; } = [];

    /// <summary>Replayed searches per cut.</summary>
    public int ReplaySeeds { get; init; }

    public static readonly double[] WindowFractions = [0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1];

    public static readonly double[] WarmupFractions = [0.25, 0.5, 0.75, 1];

    /// <summary>The recipe's own warm-up and window.</summary>
    public WindowCut Full => Cuts.Where(c => c.WarmupSeconds >= WarmupSeconds).MaxBy(c => c.WindowSeconds)!;

    /// <summary>The cut with the least measuring time (the recipe's own with too few trials); with replays, the one
    /// whose replayed searches end soonest at the recipe's accuracy.</summary>
    public WindowCut Best
    {
        get
        {
            var full = Full;
            if (GoodTrials < MinTrialsPerSide || BadTrials < MinTrialsPerSide)
                return full;
            if (ReplayOf(full) is { } own)
            {
                var chosen = Replays.Where(r => r.Wrong <= own.Wrong + WrongAllowance && r.Correct >= own.Correct - CorrectAllowance)
                    .OrderBy(r => r.WallSeconds).ThenByDescending(r => r.Is(full)).First();
                return Cuts.First(chosen.Is);
            }

            return Cuts.OrderBy(c => c.Cost).ThenByDescending(c => c.TrialSeconds >= full.TrialSeconds).ThenBy(c => c.TrialSeconds).First();
        }
    }

    /// <summary>The replay of <paramref name="cut"/>, when it was replayed.</summary>
    public ReplayedCut? ReplayOf(WindowCut cut) => Replays.FirstOrDefault(r => r.Is(cut));

    /// <summary>Whether a shorter trial than the recipe's is suggested.</summary>
    public bool Shorter
    {
        get
        {
            var (best, full) = (Best, Full);
            if (best.TrialSeconds >= full.TrialSeconds)
                return false;
            return ReplayOf(full) is { } own && ReplayOf(best) is { } replayed ? replayed.WallSeconds < own.WallSeconds : best.Cost < full.Cost;
        }
    }

    public string Message
    {
        get
        {
            var full = Full;
            var best = Best;
            var basis = $"from {GoodTrials} good and {BadTrials} bad trial(s)";
            if (GoodTrials < MinTrialsPerSide || BadTrials < MinTrialsPerSide)
                return Text($"the recipe's {Length(full)} stays: too few trials to judge a shorter one ({basis}; {MinTrialsPerSide} a side needed)");
            if (ReplayOf(full) is { } own)
            {
                var replays = $"{ReplaySeeds} replays of this run's search at each of {Replays.Count} lengths, {basis}";
                if (Shorter && ReplayOf(best) is { } r)
                    return Text($"a {Length(best)} would do instead of the recipe's {Length(full)}: {Verdict(r)} vs {Verdict(own)} ({replays}); set sampling.warmup: {best.WarmupSeconds:0}s and sampling.window: {best.WindowSeconds:0}s in the recipe");
                var shortest = Replays.Where(x => !x.Is(full)).MinBy(x => x.WallSeconds);
                return shortest is null
                    ? Text($"the recipe's {Length(full)} stays ({replays})")
                    : Text($"the recipe's {Length(full)} stays: {Verdict(own)}; the quickest shorter one, {shortest.TrialSeconds:0} s ({shortest.WarmupSeconds:0} s + {shortest.WindowSeconds:0} s), {Verdict(shortest)} ({replays})");
            }

            return Shorter
                ? Text($"a {Length(best)} would do instead of the recipe's {Length(full)}: separation {best.Separation:0.#} vs {full.Separation:0.#} noise widths, about {best.TrialsPerSide} vs {full.TrialsPerSide} trials a side, {best.Cost / full.Cost:P0} of the measuring time ({basis}); set sampling.warmup: {best.WarmupSeconds:0}s and sampling.window: {best.WindowSeconds:0}s in the recipe")
                : Text($"the recipe's {Length(full)} is the cheapest: no shorter trial decides in less measuring time (separation {full.Separation:0.#} noise widths, about {full.TrialsPerSide} trials a side; {basis})");
        }
    }

    private static string Verdict(ReplayedCut r) =>
        Text($"{r.Slots:0.#} trial slots ≈ {r.WallSeconds / 60:0.#} min to the verdict, the culprit named in {r.Correct:P0} and a wrong commit in {r.Wrong:P1}");

    private static string Length(WindowCut c) => Text($"{c.TrialSeconds:0} s trial ({c.WarmupSeconds:0} s warm-up + {c.WindowSeconds:0} s window)");

    private static string Text(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    /// <summary>The two sides of a named culprit: every trial before it against every trial from it on.</summary>
    public static WindowSuggestion? AroundCulprit(IEnumerable<(int Position, TrialSeries Series)> trials, int culprit, FeatureKind kind,
        double warmupSeconds, double alpha = 0.01, int cap = 40)
    {
        var all = trials.ToList();
        return Compute(all.Where(t => t.Position < culprit).Select(t => t.Series).ToList(),
            all.Where(t => t.Position >= culprit).Select(t => t.Series).ToList(), kind, warmupSeconds, alpha, cap);
    }

    /// <returns>Null when a side has fewer than 2 trials with samples after the warm-up.</returns>
    public static WindowSuggestion? Compute(IReadOnlyList<TrialSeries> good, IReadOnlyList<TrialSeries> bad, FeatureKind kind,
        double warmupSeconds, double alpha = 0.01, int cap = 40)
    {
        var window = good.Concat(bad).Select(t => t.Seconds.Count == 0 ? 0 : t.Seconds[^1]).DefaultIfEmpty(0).Max() - warmupSeconds;
        if (window <= 0)
            return null;
        var cuts = new List<WindowCut>();
        var warmups = warmupSeconds > 0 ? WarmupFractions.Select(f => f * warmupSeconds) : [0.0];
        foreach (var warmup in warmups)
        {
            foreach (var f in WindowFractions)
            {
                var a = good.Select(t => FeatureAt(t, kind, warmup, f * window)).Where(double.IsFinite).ToArray();
                var b = bad.Select(t => FeatureAt(t, kind, warmup, f * window)).Where(double.IsFinite).ToArray();
                if (a.Length < 2 || b.Length < 2)
                {
                    if (warmup >= warmupSeconds)
                        return null;
                    continue;
                }

                // A cut so short that most trials of a side give the same value (a slope of exactly 0 where memory grows in
                // page-sized steps) has no spread to speak of: its separation would be infinite and mean nothing.
                if (warmup + f * window < warmupSeconds + window && (Robust.Mad(a) == 0 || Robust.Mad(b) == 0))
                    continue;

                // The separation the search's e-value sees: a difference of means over the pooled standard deviation (a
                // robust spread would hide the occasional outlying trial that a short window makes, and that costs trials).
                var spread = SequentialTests.PooledDeviation(a, b);
                var gap = Math.Abs(b.Average() - a.Average());
                var separation = spread > 0 ? gap / spread : gap > 0 ? 1e3 : 0;
                var trials = SequentialTests.TrialsToReach(KeptSeparation * separation, alpha, cap);
                cuts.Add(new WindowCut(warmup, f * window, separation, Deviation(a), Deviation(b), trials, (warmup + f * window) * trials));
            }
        }

        return new WindowSuggestion(warmupSeconds, window, Measured(good, warmupSeconds), Measured(bad, warmupSeconds), cuts);
    }

    private static double Deviation(IReadOnlyList<double> x) => Math.Sqrt(SequentialTests.Moments(x).SumSquares / (x.Count - 1));

    private static int Measured(IReadOnlyList<TrialSeries> trials, double warmupSeconds) =>
        trials.Count(t => t.Seconds.Any(s => s >= warmupSeconds));

    /// <summary>The feature of <paramref name="trial"/> had it used <paramref name="warmupSeconds"/> of warm-up and
    /// <paramref name="windowSeconds"/> of window.</summary>
    public static double FeatureAt(TrialSeries trial, FeatureKind kind, double warmupSeconds, double windowSeconds) =>
        Features.Extract(Cut(trial, warmupSeconds + windowSeconds), kind, warmupSeconds);

    private static TrialSeries Cut(TrialSeries t, double end)
    {
        var k = 0;
        while (k < t.Seconds.Count && t.Seconds[k] <= end)
            k++;
        return new TrialSeries(t.Seconds.Take(k).ToArray(), t.Values.Take(k).ToArray());
    }
}
