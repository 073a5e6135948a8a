using Bisector.Statistics;

namespace Bisector.Search;

/// <summary>One side of a split: the level (median of the side's trials) and the Student-t (ν = 3) scale of one trial
/// around it, widened by the level's own standard error.</summary>
public sealed record SideFit(double Level, double Scale, int Trials)
{
    public double LogDensity(double x) => CulpritPosterior.LogT3((x - Level) / Scale) - Math.Log(Scale);
}

/// <summary>The two-level model of one split: trials before the culprit are good, from it on bad, each side with its
/// own level and scale.</summary>
public sealed record SplitFit(SideFit Good, SideFit Bad)
{
    /// <summary>Log likelihood ratio "this trial is from the bad side" over "from the good side".</summary>
    public double BadOverGood(double x) => Bad.LogDensity(x) - Good.LogDensity(x);

    /// <summary>Expected evidence one trial gives about its side, in nats: the smaller of the two Kullback–Leibler
    /// divergences (a trial of the side that is harder to tell apart), by quadrature over the t₃ density.</summary>
    public double EvidencePerTrial() => Math.Min(Divergence(Good, Bad), Divergence(Bad, Good));

    /// <summary>The largest evidence one trial can give, either way (the log ratio of two t₃ densities is bounded):
    /// a plan of k trials that cannot reach a threshold even at this rate is never scheduled.</summary>
    public double MaxEvidencePerTrial()
    {
        double max = 0;
        var lo = Math.Min(Good.Level - 60 * Good.Scale, Bad.Level - 60 * Bad.Scale);
        var hi = Math.Max(Good.Level + 60 * Good.Scale, Bad.Level + 60 * Bad.Scale);
        for (var i = 0; i <= 4000; i++)
        {
            var x = lo + (hi - lo) * i / 4000;
            max = Math.Max(max, Math.Abs(BadOverGood(x)));
        }
        return max;
    }

    private static double Divergence(SideFit p, SideFit q)
    {
        double sum = 0, weight = 0;
        for (var i = -1200; i <= 1200; i++)
        {
            var z = i * 0.025;
            var w = Math.Exp(CulpritPosterior.LogT3(z));
            var x = p.Level + z * p.Scale;
            sum += w * (p.LogDensity(x) - q.LogDensity(x));
            weight += w;
        }
        return Math.Max(0, sum / weight);
    }
}

/// <summary>
/// The probability that each position 1..N is the first bad commit, assuming one change. Every trial of every
/// measured position is evidence, not only the anchors': for a culprit c the positions before it form the good side
/// and those from it on the bad side; each side has its own level (the median of all its trials) and its own scale,
/// and every trial is scored against its side with a Student-t (ν = 3) likelihood — heavy tails, so one odd trial (a
/// noisy neighbour, a second smaller change) does not decide. A side's scale is its trials' spread around the side's
/// level (a split that puts a bad position on the good side widens that side and pays for it), shrunk towards the
/// spread within positions while the side has few trials, and widened by the level's standard error, so a side known
/// from 2 trials cannot be decisive on its own. Per-side scales matter: in the journald case the bad trials spread
/// about twice as wide as the good ones, and one pooled σ made every bad trial look like an outlier of the good side
/// less often than it should. Positions between two measured ones share one likelihood, so the posterior is flat across
/// unmeasured and skipped commits. Uniform prior.
/// </summary>
public static class CulpritPosterior
{
    /// <summary>Standard error of a median relative to σ/√n for normal data (√(π/2)); close to t₃'s, too.</summary>
    private const double MedianEfficiency = 1.2533;

    /// <summary>A t₃ variable's MAD × 1.4826 is 1.134 times its scale parameter.</summary>
    private const double T3ScalePerSigma = 1 / 1.134;

    /// <summary>Pseudo-trials of the within-position spread a side's own spread is shrunk towards.</summary>
    private const double ShrinkTrials = 3;

    /// <param name="minShift">The smallest change that matters, in the <paramref name="sign"/> direction (+1: higher is
    /// worse). Each split's bad level is held at least half of it above the good level, so a real but smaller difference
    /// between good commits (journald: slopes of 0.00 against 0.04 MiB/min, min-effect 0.2) cannot carry the blame;
    /// and no side's spread is taken below a quarter of it, so features quantised to a few steps (slopes rounded to 0.01,
    /// most of them 0) do not make a one-step difference decisive, and one trial half the min-effect away from a side
    /// stays ambiguous (journald's good builds have single trials up to 0.17 with a median of 0.01).</param>
    /// <param name="sameBuildAs">Positions whose build is identical to another's (key → the position measured for
    /// both, <see cref="PositionEvidence.SameBuildAs"/>): their values count once, at the measured position, and no
    /// commit after the first of the two up to the second can be the culprit (identical builds measure the same, so under
    /// one change they are on the same side of it).</param>
    public static double[] Compute(int candidateCount, IReadOnlyList<double> good, IReadOnlyList<double> bad,
        Func<int, IReadOnlyList<double>> valuesAt, double minShift = 0, double sign = 1, IReadOnlyDictionary<int, int>? sameBuildAs = null)
    {
        var n = candidateCount;
        var post = new double[n];
        var measured = Measured(n, good, bad, Once(valuesAt, sameBuildAs));
        if (measured.Count < 2 || measured[0].Position != 0 || measured[^1].Position != n)
        {
            Array.Fill(post, 1.0 / n);
            return WithoutIdenticalBuilds(post, sameBuildAs);
        }

        var sigma = Math.Max(PriorScale(measured), minShift / 4);
        // Split j: measured[0..j] good, measured[j+1..] bad ⇒ culprit in (measured[j], measured[j+1]].
        var splits = measured.Count - 1;
        var logLik = new double[splits];
        for (var j = 0; j < splits; j++)
        {
            var goodSide = Pool(measured, 0, j);
            var badSide = Pool(measured, j + 1, measured.Count - 1);
            var (g, b) = Apart(Fit(goodSide, sigma), Fit(badSide, sigma), minShift / 2, sign);
            logLik[j] = SideLogLikelihood(goodSide, g) + SideLogLikelihood(badSide, b);
        }

        var max = logLik.Max();
        double sum = 0;
        for (var j = 0; j < splits; j++)
        {
            var weight = Math.Exp(logLik[j] - max);
            for (var c = measured[j].Position + 1; c <= measured[j + 1].Position; c++)
            {
                post[c - 1] = weight;
                sum += weight;
            }
        }
        for (var c = 0; c < n; c++)
            post[c] /= sum;
        return WithoutIdenticalBuilds(post, sameBuildAs);
    }

    /// <summary>An identical build's values count once: at the position that was measured for it.</summary>
    private static Func<int, IReadOnlyList<double>> Once(Func<int, IReadOnlyList<double>> valuesAt, IReadOnlyDictionary<int, int>? sameBuildAs) =>
        sameBuildAs is null || sameBuildAs.Count == 0 ? valuesAt : p => sameBuildAs.ContainsKey(p) ? [] : valuesAt(p);

    /// <summary>No culprit mass between two identical builds (after the first, up to the second), renormalised. When
    /// identical builds span the whole range (the ends are identical) nothing is left to blame and the posterior is 0.</summary>
    private static double[] WithoutIdenticalBuilds(double[] post, IReadOnlyDictionary<int, int>? sameBuildAs)
    {
        if (sameBuildAs is null || sameBuildAs.Count == 0)
            return post;
        foreach (var (a, b) in sameBuildAs)
        {
            for (var c = Math.Min(a, b) + 1; c <= Math.Max(a, b) && c <= post.Length; c++)
                post[c - 1] = 0;
        }
        var sum = post.Sum();
        if (sum > 0)
        {
            for (var c = 0; c < post.Length; c++)
                post[c] /= sum;
        }
        return post;
    }

    /// <summary>The fitted model's spread is taken no smaller than the min-effect over this (the posterior's floor is a
    /// quarter). The model sizes probes and scores verification's fresh trials; at a quarter, a change of 10 noise
    /// widths with the min-effect at its size could not give ln(1/α) nats in one trial (at most 4–5, so every
    /// verification took 3 fresh trials, docs/benchmarks-search.md "Large effects"). The posterior keeps the quarter:
    /// it is what keeps journald's quantised slopes and half-min-effect good trials from deciding a side (replay).</summary>
    private const double FitFloorShare = 6;

    /// <summary>The two-level model with the culprit at <paramref name="culprit"/>: positions before it good, from
    /// it on bad, every trial <paramref name="valuesAt"/> gives (a caller leaves out trials it wants to test on).</summary>
    public static SplitFit FitSplit(int candidateCount, int culprit, Func<int, IReadOnlyList<double>> valuesAt, double minShift = 0, double sign = 1,
        IReadOnlyDictionary<int, int>? sameBuildAs = null)
    {
        var measured = Measured(candidateCount, valuesAt(0), valuesAt(candidateCount), Once(valuesAt, sameBuildAs));
        var sigma = Math.Max(PriorScale(measured), minShift / FitFloorShare);
        var goodSide = measured.Where(m => m.Position < culprit).SelectMany(m => m.Values).ToArray();
        var badSide = measured.Where(m => m.Position >= culprit).SelectMany(m => m.Values).ToArray();
        var (g, b) = Apart(Fit(goodSide, sigma), Fit(badSide, sigma), minShift / 2, sign);
        return new SplitFit(g, b);
    }

    /// <summary>The split's levels held at least <paramref name="gap"/> apart in the worse direction, each moved half
    /// the shortfall (the constrained fit of two levels whose difference must be at least the gap).</summary>
    private static (SideFit Good, SideFit Bad) Apart(SideFit good, SideFit bad, double gap, double sign)
    {
        var shortfall = gap - sign * (bad.Level - good.Level);
        if (!(shortfall > 0) || double.IsNaN(good.Level) || double.IsNaN(bad.Level))
            return (good, bad);
        return (good with { Level = good.Level - sign * shortfall / 2 }, bad with { Level = bad.Level + sign * shortfall / 2 });
    }

    private static List<(int Position, double[] Values)> Measured(int n, IReadOnlyList<double> good, IReadOnlyList<double> bad,
        Func<int, IReadOnlyList<double>> valuesAt)
    {
        var measured = new List<(int Position, double[] Values)>();
        Add(0, good);
        for (var i = 1; i < n; i++)
            Add(i, valuesAt(i));
        Add(n, bad);
        return measured;

        void Add(int position, IReadOnlyList<double> values)
        {
            var finite = values.Where(double.IsFinite).ToArray();
            if (finite.Length > 0)
                measured.Add((position, finite));
        }
    }

    /// <summary>The spread within positions (it does not depend on the split); for quantised or constant trials with
    /// no spread, a fraction of the ends' gap keeps scores finite.</summary>
    private static double PriorScale(List<(int Position, double[] Values)> measured)
    {
        var medians = measured.Select(m => Robust.Median(m.Values)).ToArray();
        var sigma = WithinPositionScale(measured.Select(m => m.Values).ToArray(), medians);
        if (sigma > 0)
            return sigma;
        if (medians.Length == 0)
            return 1;
        var gap = Math.Abs(medians[^1] - medians[0]);
        return Math.Max(gap / 4, 1e-12 * Math.Max(1, Math.Abs(medians[0])));
    }

    private static double[] Pool(List<(int Position, double[] Values)> measured, int from, int to)
    {
        var all = new List<double>();
        for (var k = from; k <= to; k++)
            all.AddRange(measured[k].Values);
        return all.ToArray();
    }

    private static SideFit Fit(double[] side, double prior)
    {
        if (side.Length == 0)
            return new SideFit(double.NaN, prior * T3ScalePerSigma, 0);
        var level = Robust.Median(side);
        var own = side.Length >= 2 ? 1.4826 * Robust.Median(side.Select(v => Math.Abs(v - level)).ToArray()) * Math.Sqrt(side.Length / (side.Length - 1.0)) : 0;
        var k = side.Length;
        // A MAD of 0 from two or more trials says that more than half of the side's trials tie, not that the side has no spread (journald: most
        // good slopes read exactly 0.00 MiB/min, and good builds still give single trials of 0.08–0.17): shrinking
        // towards 0 took the good side's spread to √(3/(k+3)) of the prior — 0.45 of it at 12 trials — and below the
        // min-effect floor, where one good build's trial of 0.10 or 0.17 weighed 3–6 nats for "bad" (bench replay,
        // run 1: 5 wrong culprits in 400, all that one good build). Its own spread is then unknown: the prior stands.
        var sigma = own > 0 || k < 2 ? Math.Sqrt((k * own * own + ShrinkTrials * prior * prior) / (k + ShrinkTrials)) : prior;
        var levelSe = MedianEfficiency * sigma / Math.Sqrt(k);
        return new SideFit(level, Math.Sqrt(sigma * sigma + levelSe * levelSe) * T3ScalePerSigma, k);
    }

    private static double SideLogLikelihood(double[] side, SideFit fit)
    {
        double ll = 0;
        foreach (var x in side)
            ll += fit.LogDensity(x);
        return ll;
    }

    /// <summary>Pooled robust spread of trials around their own position's median (MAD × 1.4826), each residual
    /// widened by √(k/(k−1)) because a median of k values sits closer to them than the true level does. Positions
    /// with one trial say nothing about spread.</summary>
    internal static double WithinPositionScale(IReadOnlyList<double[]> values, IReadOnlyList<double> medians)
    {
        var residuals = new List<double>();
        for (var p = 0; p < values.Count; p++)
        {
            var k = values[p].Length;
            if (k < 2)
                continue;
            var widen = Math.Sqrt(k / (k - 1.0));
            residuals.AddRange(values[p].Select(v => Math.Abs(v - medians[p]) * widen));
        }
        return residuals.Count == 0 ? double.NaN : 1.4826 * Robust.Median(residuals);
    }

    internal static double LogT3(double z) => -2 * Math.Log(1 + z * z / 3);
}
