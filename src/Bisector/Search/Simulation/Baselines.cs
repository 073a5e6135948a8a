using Bisector.Recipes;
using Bisector.Statistics;

namespace Bisector.Search.Simulation;

/// <summary>What a baseline concluded, scored like a <see cref="SearchOutcome"/>.</summary>
public sealed record BaselineOutcome(SearchStatus Status, int RangeFirst, int RangeLast, int Trials, int Rounds);

/// <summary>The two ways people find memory regressions today, run on the same simulated trials as Bisector.</summary>
public static class Baselines
{
    /// <summary>
    /// Plain <c>git bisect run</c>: one trial per commit, a fixed threshold halfway between one good and one bad run,
    /// <c>git bisect skip</c> for unbuildable commits. Gives up only when the ends are closer than the minimum effect.
    /// </summary>
    public static BaselineOutcome GitBisect(MemorySimulator sim, DecisionSpec decision, double warmup)
    {
        var n = sim.Scenario.Candidates;
        int trials = 0, rounds = 0;
        double One(int p) { trials++; rounds++; return Features.Extract(sim.Trial(p, 0), decision.Feature, warmup); }
        var sign = decision.Direction == RegressionDirection.Increase ? 1 : -1;
        var good = One(0);
        var bad = One(n);
        if (sign * (bad - good) < decision.MinEffect)
            return new BaselineOutcome(SearchStatus.NoRegression, 0, 0, trials, rounds);
        var threshold = (good + bad) / 2;
        int lo = 0, hi = n;
        while (hi - lo > 1)
        {
            var mid = NearestBuildable(sim, lo, hi);
            if (mid < 0)
                return new BaselineOutcome(SearchStatus.FoundRange, lo + 1, hi, trials, rounds);
            if (sign * (One(mid) - threshold) >= 0) hi = mid; else lo = mid;
        }
        return new BaselineOutcome(SearchStatus.Found, hi, hi, trials, rounds);
    }

    /// <summary>
    /// Pinpoint-like: each run reduced to one number (the mean after warm-up), two commits compared with
    /// min(Kolmogorov–Smirnov, Mann–Whitney) at α = 0.01, repeats 10 → 20 → 40 → 80 → 160 until "different",
    /// "same" (p above a power threshold for the sample size) or giving up; bisection compares each midpoint with the
    /// good end.
    /// </summary>
    public static BaselineOutcome Pinpoint(MemorySimulator sim, double warmup)
    {
        var n = sim.Scenario.Candidates;
        int trials = 0, rounds = 0;
        var scalars = new Dictionary<int, List<double>>();
        List<double> Ensure(int p, int count)
        {
            var l = scalars.TryGetValue(p, out var x) ? x : scalars[p] = new List<double>();
            while (l.Count < count) { l.Add(Features.Extract(sim.Trial(p, l.Count), FeatureKind.Mean, warmup)); trials++; }
            return l;
        }
        Verdict Compare(int a, int b)
        {
            for (var size = 10; size <= 160; size *= 2)
            {
                rounds++;
                var x = Ensure(a, size);
                var y = Ensure(b, size);
                var p = Math.Min(KolmogorovSmirnov.Test(x, y).PValue, MannWhitney.Test(x, y).PValue);
                if (p < 0.01) return Verdict.Regressed;
                if (p > HighThreshold(size)) return Verdict.Same;
            }
            return Verdict.Unknown;
        }
        var ends = Compare(0, n);
        if (ends == Verdict.Same) return new BaselineOutcome(SearchStatus.NoRegression, 0, 0, trials, rounds);
        if (ends == Verdict.Unknown) return new BaselineOutcome(SearchStatus.Undecided, 0, 0, trials, rounds);
        int lo = 0, hi = n;
        while (hi - lo > 1)
        {
            var mid = NearestBuildable(sim, lo, hi);
            if (mid < 0) return new BaselineOutcome(SearchStatus.FoundRange, lo + 1, hi, trials, rounds);
            switch (Compare(0, mid))
            {
                case Verdict.Regressed: hi = mid; break;
                case Verdict.Same: lo = mid; break;
                default: return new BaselineOutcome(SearchStatus.Undecided, lo + 1, hi, trials, rounds);
            }
        }
        return new BaselineOutcome(SearchStatus.Found, hi, hi, trials, rounds);
    }

    /// <summary>"Same" when p exceeds this: an approximation of Pinpoint's power thresholds for a 1-IQR effect — a
    /// real shift of that size rarely gives a p-value this high at this sample size.</summary>
    internal static double HighThreshold(int size) => size switch
    {
        <= 10 => 0.50,
        <= 20 => 0.20,
        <= 40 => 0.05,
        <= 80 => 0.02,
        _ => 0.01,
    };

    /// <summary>The buildable position nearest the middle of (lo, hi), or −1 when all of them are unbuildable.</summary>
    private static int NearestBuildable(MemorySimulator sim, int lo, int hi)
    {
        var mid = (lo + hi) / 2;
        for (var d = 0; d < hi - lo; d++)
        {
            if (mid - d > lo && !sim.IsUnbuildable(mid - d)) return mid - d;
            if (mid + d < hi && !sim.IsUnbuildable(mid + d)) return mid + d;
        }
        return -1;
    }
}
