using Bisector.Recipes;
using Bisector.Statistics;

namespace Bisector.Search;

/// <summary>
/// Where a search stands on the trials gathered so far: every measured position against the good end and the culprit
/// posterior, computed as the search computes them at its end (same test, same α and 'Same' level, same posterior),
/// so what <c>bisector status</c> shows during a run is what the final table will show if no more trials change it.
/// </summary>
/// <param name="VersusGood">Each measured position 1..N against position 0.</param>
/// <param name="Posterior">Probability that position c is the culprit, at index c − 1.</param>
public sealed record SearchStanding(IReadOnlyDictionary<int, Comparison> VersusGood, IReadOnlyList<double> Posterior)
{
    /// <param name="candidateCount">N: positions 1..N are candidates, 0 is the good end.</param>
    /// <param name="values">The deciding feature of each Ok trial at a position (empty when unmeasured or skipped).</param>
    /// <param name="sameBuildAs">Positions whose build is identical to an earlier measured one's (see
    /// <see cref="CulpritPosterior.Compute"/>); their rows show the shared trials.</param>
    public static SearchStanding From(int candidateCount, Func<int, IReadOnlyList<double>> values, DecisionSpec decision, double alpha,
        IReadOnlyDictionary<int, int>? sameBuildAs = null)
    {
        var good = values(0);
        var versusGood = new Dictionary<int, Comparison>();
        if (good.Count > 0)
        {
            for (var p = 1; p <= candidateCount; p++)
            {
                if (values(p).Count > 0)
                    versusGood[p] = Comparisons.Compare(good, values(p), decision.Direction, decision.MinEffect, alpha, alpha * SearchOptions.SameAlphaShare);
            }
        }

        var posterior = good.Count > 0 && values(candidateCount).Count > 0
            ? CulpritPosterior.Compute(candidateCount, good, values(candidateCount), values, decision.MinEffect,
                decision.Direction == RegressionDirection.Increase ? 1 : -1, sameBuildAs)
            : Enumerable.Repeat(1.0 / candidateCount, candidateCount).ToArray();
        return new SearchStanding(versusGood, posterior);
    }

    /// <summary>The positions that share the largest posterior value (unmeasured commits between two measured ones
    /// share one likelihood, so the leader is a block) and the posterior mass they hold together.</summary>
    public (int First, int Last, double Mass) LeadingBlock
    {
        get
        {
            var top = Posterior.Max();
            var at = Posterior.ToList().IndexOf(top);
            bool Same(int i) => Math.Abs(Posterior[i] - top) <= 1e-9 * top;
            int first = at, last = at;
            while (first > 0 && Same(first - 1))
                first--;
            while (last < Posterior.Count - 1 && Same(last + 1))
                last++;
            var mass = 0.0;
            for (var i = first; i <= last; i++)
                mass += Posterior[i];
            return (first + 1, last + 1, mass);
        }
    }
}
