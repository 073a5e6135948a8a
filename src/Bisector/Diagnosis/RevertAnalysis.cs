using System.Globalization;
using Bisector.Recipes;
using Bisector.Statistics;

namespace Bisector.Diagnosis;

public enum RevertFinding
{
    /// <summary>The reverted build differs from the bad end (e-value ≥ 1/α) and not (yet) from the good end.</summary>
    Removes,

    /// <summary>The reverted build differs from both ends, and from the good end by at least half the min-effect: the
    /// revert removes a part of the regression.</summary>
    RemovesPart,

    /// <summary>The reverted build differs from the good end (e-value ≥ 1/α) and not from the bad end.</summary>
    RemovesNone,

    /// <summary>Neither e-value reached 1/α within the trials allowed.</summary>
    Undecided,
}

/// <summary>
/// Where the bad end with the culprit reverted sits between the good and the bad end, on the deciding feature, under
/// the Gaussian model the search's e-values assume (one scale, pooled over the three builds).
/// <see cref="Share"/> is the part of the regression the revert removes, (bad − reverted) / (bad − good) of the means,
/// with Fieller's interval for that ratio at <see cref="ConfidenceLevel"/> (unbounded when the regression itself is not
/// clear at that level); the differences of means come with t intervals. The intervals are fixed-sample intervals
/// computed at the look where the trials stopped; the decisions are the e-values, valid at any look.
/// </summary>
public sealed record RevertEstimate(
    int GoodTrials,
    int BadTrials,
    int RevertTrials,
    double Share,
    double ShareLow,
    double ShareHigh,
    double VersusBad,
    double VersusBadLow,
    double VersusBadHigh,
    double VersusGood,
    double VersusGoodLow,
    double VersusGoodHigh,
    double EValueBad,
    double EValueGood,
    double ConfidenceLevel,
    double Alpha,
    double MinEffect = 0)
{
    public bool DiffersFromBad => EValueBad >= 1 / Alpha;

    public bool DiffersFromGood => EValueGood >= 1 / Alpha;

    public RevertFinding Finding => (DiffersFromBad, DiffersFromGood) switch
    {
        (true, false) => RevertFinding.Removes,
        (true, true) => Share < 1 && RestMatters ? RevertFinding.RemovesPart : RevertFinding.Removes,
        (false, true) => RevertFinding.RemovesNone,
        _ => RevertFinding.Undecided,
    };

    /// <summary>The part the revert leaves (the reverted build against the good end) is at least half the min-effect,
    /// the size a culprit must have to be named. A smaller rest is below what the recipe calls a change: with the demo's
    /// 0.02 MiB noise a reverted build 0.1 MiB from a good end measured rounds earlier on a loaded machine "differed" at
    /// e-value ≥ 100, and a revert that removes 97 % of a 4 MiB regression read "removes part".</summary>
    public bool RestMatters => Math.Abs(VersusGood) >= MinEffect / 2;

    /// <summary>Whether more trials of the reverted build are needed: until an e-value decides where it sits and the
    /// share's interval is bounded.</summary>
    public bool Decided => (DiffersFromBad || DiffersFromGood) && double.IsFinite(ShareLow) && double.IsFinite(ShareHigh);

    /// <summary>The share as a whole percentage (and its interval) for prose.</summary>
    public string SharePercent => string.Create(CultureInfo.InvariantCulture, $"{Share * 100:0} %");

    public string ShareInterval => double.IsFinite(ShareLow) && double.IsFinite(ShareHigh)
        ? string.Create(CultureInfo.InvariantCulture, $"[{ShareLow * 100:0} %, {ShareHigh * 100:0} %]")
        : "[unbounded]";
}

/// <summary>Pure statistics of the revert proof: feature values of the good end, the bad end and the reverted build in,
/// <see cref="RevertEstimate"/> out (the effects run in <see cref="RevertProof"/>).</summary>
public static class RevertAnalysis
{
    /// <summary>Null when a side has no value or the three together leave no degree of freedom for the scale.</summary>
    public static RevertEstimate? Estimate(IReadOnlyList<double> good, IReadOnlyList<double> bad, IReadOnlyList<double> reverted, double alpha, double minEffect = 0)
    {
        var g = good.Where(double.IsFinite).ToArray();
        var b = bad.Where(double.IsFinite).ToArray();
        var r = reverted.Where(double.IsFinite).ToArray();
        var df = g.Length + b.Length + r.Length - 3;
        if (g.Length == 0 || b.Length == 0 || r.Length == 0 || df < 1)
            return null;
        var (ng, mg, ssg) = SequentialTests.Moments(g);
        var (nb, mb, ssb) = SequentialTests.Moments(b);
        var (nr, mr, ssr) = SequentialTests.Moments(r);
        var s2 = (ssg + ssb + ssr) / df;
        var level = 1 - 2 * alpha;
        var t = StudentT.TwoSidedQuantile(level, df);
        var q = t * t * s2;

        // Fieller: the f with (removed − f · regression)² ≤ t² s² Var-factor(removed − f · regression), where removed and
        // regression share the bad end's mean (covariance s² / nb).
        double removed = mb - mr, regression = mb - mg;
        double v11 = 1.0 / nb + 1.0 / nr, v22 = 1.0 / nb + 1.0 / ng, v12 = 1.0 / nb;
        var qa = regression * regression - q * v22;
        var qb = removed * regression - q * v12;
        var qc = removed * removed - q * v11;
        var share = regression != 0 ? removed / regression : double.NaN;
        var (low, high) = (double.NegativeInfinity, double.PositiveInfinity);
        if (qa > 0)
        {
            var root = Math.Sqrt(Math.Max(0, qb * qb - qa * qc));
            (low, high) = ((qb - root) / qa, (qb + root) / qa);
        }

        var hwBad = t * Math.Sqrt(s2 * (1.0 / nr + 1.0 / nb));
        var hwGood = t * Math.Sqrt(s2 * (1.0 / nr + 1.0 / ng));
        return new RevertEstimate(ng, nb, nr, share, low, high,
            mr - mb, mr - mb - hwBad, mr - mb + hwBad,
            mr - mg, mr - mg - hwGood, mr - mg + hwGood,
            SequentialTests.EValue(b, r), SequentialTests.EValue(g, r), level, alpha, minEffect);
    }

    /// <summary>The word for what the search found, in the recipe's direction: a decrease is reported as a change.</summary>
    public static string ChangeWord(RegressionDirection direction) => direction == RegressionDirection.Increase ? "regression" : "change";
}
