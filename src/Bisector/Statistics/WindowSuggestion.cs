using System.Globalization;

namespace Bisector.Statistics;

/// <summary>One cut of the trial window: the feature recomputed on every stored trial cut to
/// <see cref="WindowSeconds"/> after the warm-up, its separation between the two sides and what it would cost.</summary>
/// <param name="Separation">|median bad − median good| over the pooled robust spread of the cut feature.</param>
/// <param name="TrialsPerSide">Trials a side for the sequential e-value to reach 1/α at that separation.</param>
/// <param name="Cost">Seconds of measuring a side: (warm-up + window) × trials.</param>
public sealed record WindowCut(double WindowSeconds, double Separation, double GoodSpread, double BadSpread, int TrialsPerSide, double Cost);

/// <summary>
/// How a feature's separation and noise change when the trials are cut shorter, from stored trials only (no new runs):
/// every good-side and bad-side trial is cut to a fraction of its window, the feature recomputed, and the cut whose
/// trials-to-decide × trial length is least is suggested. Like is still compared with like — every trial of a run would
/// use the same cut.
/// </summary>
public sealed record WindowSuggestion(double WarmupSeconds, double FullWindowSeconds, IReadOnlyList<WindowCut> Cuts)
{
    public WindowCut Best => Cuts.MinBy(c => c.Cost)!;

    public string Message
    {
        get
        {
            var full = Cuts.MaxBy(c => c.WindowSeconds)!;
            var best = Best;
            return best.WindowSeconds >= full.WindowSeconds
                ? string.Create(CultureInfo.InvariantCulture, $"the full {full.WindowSeconds:0} s window is the cheapest: shorter cuts separate the sides less (separation {full.Separation:0.#} at {full.WindowSeconds:0} s)")
                : string.Create(CultureInfo.InvariantCulture,
                    $"a {best.WindowSeconds:0} s window (not {full.WindowSeconds:0} s) would do: separation {best.Separation:0.#} vs {full.Separation:0.#} noise widths, about {best.TrialsPerSide} vs {full.TrialsPerSide} trials a side, {best.Cost / full.Cost:P0} of the measuring time");
        }
    }

    public static readonly double[] Fractions = [0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1];

    /// <returns>Null when a side has fewer than 2 trials with samples after the warm-up.</returns>
    public static WindowSuggestion? Compute(IReadOnlyList<TrialSeries> good, IReadOnlyList<TrialSeries> bad, FeatureKind kind,
        double warmupSeconds, double alpha = 0.01, int cap = 40)
    {
        var window = good.Concat(bad).Select(t => t.Seconds.Count == 0 ? 0 : t.Seconds[^1]).DefaultIfEmpty(0).Max() - warmupSeconds;
        if (window <= 0)
            return null;
        var cuts = new List<WindowCut>();
        foreach (var f in Fractions)
        {
            var end = warmupSeconds + f * window;
            var a = good.Select(t => Features.Extract(Cut(t, end), kind, warmupSeconds)).Where(double.IsFinite).ToArray();
            var b = bad.Select(t => Features.Extract(Cut(t, end), kind, warmupSeconds)).Where(double.IsFinite).ToArray();
            if (a.Length < 2 || b.Length < 2)
                return null;
            var spread = SequentialTests.PooledScale(a, b);
            var gap = Math.Abs(Robust.Median(b) - Robust.Median(a));
            var separation = spread > 0 ? gap / spread : gap > 0 ? 1e3 : 0;
            var trials = SequentialTests.TrialsToReach(separation, alpha, cap);
            cuts.Add(new WindowCut(f * window, separation, Robust.Mad(a), Robust.Mad(b), trials, (warmupSeconds + f * window) * trials));
        }
        return new WindowSuggestion(warmupSeconds, window, cuts);
    }

    private static TrialSeries Cut(TrialSeries t, double end)
    {
        var k = 0;
        while (k < t.Seconds.Count && t.Seconds[k] <= end)
            k++;
        return new TrialSeries(t.Seconds.Take(k).ToArray(), t.Values.Take(k).ToArray());
    }
}
