namespace Bisector.Statistics;

/// <summary>One feature's trial-to-trial noise on one build, and the smallest effect that noise lets a search decide.</summary>
/// <param name="Spread">Sample standard deviation of the feature over the trials (raw units: bytes, bytes/min).</param>
/// <param name="SuggestedMinEffect">
/// <see cref="NoiseCheck.SpreadsPerMinEffect"/> × <paramref name="Spread"/>, rounded up to a size a user writes
/// (<see cref="NoiseCheck.NiceCeiling"/>), and never below <see cref="NoiseCheck.Floor"/>.</param>
public sealed record FeatureNoise(FeatureKind Feature, int Trials, double Median, double Spread, double SuggestedMinEffect);

/// <summary>
/// What a few trials of one build say about a recipe before a long run (<c>bisector recipe check</c>): the noise of
/// each feature and the min-effect and window it supports. Pure: trial series in, numbers out.
/// </summary>
public static class NoiseCheck
{
    /// <summary>
    /// Suggested min-effect in standard deviations of the A/A noise. Derived, for normal noise: the Hodges–Lehmann shift
    /// of n vs n trials has a standard error of about σ·√(2/n)·√(π/3) (the Mann–Whitney efficiency 3/π); at n = 10 that
    /// is 0.46σ, so a 3σ regression is 6.6 standard errors away — found at α = 0.01 with power above 0.99 — and a "no
    /// regression" bound (shift + 2.8 SE at α/4) stays under 3σ. At 5 trials a side (SE 0.65σ) 3σ is still 4.6 SE.
    /// With 2–3 trials, σ itself is uncertain by a factor of about 2: the suggestion is a starting point, to re-check.
    /// </summary>
    public const double SpreadsPerMinEffect = 3.0;

    /// <summary>Smallest suggestion: 64 KiB (or KiB/min), sixteen pages — below it a memory change is page noise.</summary>
    public const double Floor = 64 * 1024;

    public static IReadOnlyList<FeatureNoise> Measure(IReadOnlyList<TrialSeries> trials, double warmupSeconds)
    {
        var result = new List<FeatureNoise>();
        foreach (var kind in Enum.GetValues<FeatureKind>())
        {
            var values = trials.Select(t => Features.Extract(t, kind, warmupSeconds)).Where(double.IsFinite).ToArray();
            if (values.Length == 0)
                continue;
            var spread = StandardDeviation(values);
            result.Add(new FeatureNoise(kind, values.Length, Robust.Median(values), spread,
                values.Length < 2 ? double.NaN : NiceCeiling(Math.Max(Floor, SpreadsPerMinEffect * spread))));
        }

        return result;
    }

    /// <summary>
    /// The window a slope needs so that its suggested min-effect (3σ) falls to <paramref name="minEffect"/>. Derived: a
    /// least-squares (or Theil–Sen) slope over a window W of evenly spaced samples with white noise has a standard error
    /// proportional to W^(−3/2), so W' = W · (3σ / min-effect)^(2/3). Null when the current window already suffices.
    /// </summary>
    public static TimeSpan? SlopeWindowFor(FeatureNoise slope, TimeSpan window, double minEffect)
    {
        if (slope.Feature != FeatureKind.Slope || minEffect <= 0 || !double.IsFinite(slope.Spread))
            return null;
        var needed = SpreadsPerMinEffect * slope.Spread;
        if (needed <= minEffect)
            return null;
        var seconds = window.TotalSeconds * Math.Pow(needed / minEffect, 2.0 / 3.0);
        return TimeSpan.FromSeconds(Math.Ceiling(seconds / 10) * 10);
    }

    /// <summary>Rounds up to 1, 1.5, 2, 3, 4 or 6 × a power of two KiB (64K, 96K, 128K, …, 1.5M, 2M).</summary>
    public static double NiceCeiling(double bytes)
    {
        if (!double.IsFinite(bytes))
            return bytes;
        double[] steps = [1, 1.5, 2, 3];
        for (var power = 1024.0; ; power *= 2)
        {
            foreach (var step in steps)
            {
                if (step * power >= bytes)
                    return step * power;
            }
        }
    }

    private static double StandardDeviation(IReadOnlyList<double> values)
    {
        if (values.Count < 2)
            return double.NaN;
        var mean = values.Average();
        return Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1));
    }
}
