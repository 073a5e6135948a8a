using Bisector.Recipes;
using Bisector.Statistics;

namespace Bisector.Search;

public enum SearchStrategy
{
    /// <summary>One position per round, where the culprit posterior is split in half.</summary>
    Bisect,

    /// <summary><see cref="SearchOptions.Workers"/> positions per round at the posterior's W+1-quantiles, measured in parallel.</summary>
    Kary,

    /// <summary>Every position, then change-point detection over the whole series.</summary>
    Exhaustive,
}

/// <param name="Workers">Positions measured in parallel per round (k-ary and exhaustive refinement).</param>
/// <param name="WarmupSeconds">Samples before this are dropped before features are computed.</param>
/// <param name="InitialTrials">First batch of trials at a position; every later batch adds as many again, up to
/// <paramref name="MaxTrialsPerPosition"/>.</param>
/// <param name="Confidence">Posterior probability the named commit (or range) must reach.</param>
/// <param name="TrialBudget">Trials the whole search may spend; it ends Undecided when spent.</param>
public sealed record SearchOptions(
    SearchStrategy Strategy,
    int Workers,
    DecisionSpec Decision,
    double WarmupSeconds,
    int InitialTrials = 5,
    int MaxTrialsPerPosition = 40,
    double Alpha = 0.01,
    double Confidence = 0.95,
    int MaxRounds = 200,
    int TrialBudget = int.MaxValue)
{
    /// <summary>
    /// β of the search's "no regression": the probability, per search, of calling a regression of the min-effect "no
    /// regression", however often the search looks (<see cref="SequentialTests.NoRegressionBound"/>, one boundary
    /// calibrated for every look). A quarter of <see cref="Alpha"/>: a missed regression costs the user the answer, so it
    /// is held rarer than the false alarm. Until session 11 it was α/4 a look through Wald's ratio with a plug-in
    /// spread, which missed a 1-IQR step in 0.6 % of searches (docs/benchmarks-search.md).
    /// </summary>
    public double SameAlpha => Alpha * SameAlphaShare;

    /// <summary>The run's position of this search's position 0: a search of one segment of the range (the scan's)
    /// counts from 0 but names positions as the run does, in its summaries and round logs. It changes nothing else.</summary>
    public int PositionBase { get; init; }

    /// <summary>The unit the decision's feature is stated in (MiB, MiB/min) in explanations and warnings.</summary>
    public FeatureScale Scale => FeatureScale.For(Decision.Metric, Decision.Feature);

    /// <summary>The share of <see cref="Alpha"/> that <see cref="SameAlpha"/> gets; one commit's own comparison with the
    /// good anchor (the report's per-commit table, a fixed number of trials) calls it "Same" at the same share.</summary>
    public const double SameAlphaShare = 0.25;

    internal void Validate()
    {
        if (Workers < 1)
            throw new UsageException("--workers", $"{Workers} workers cannot measure anything", "Give at least 1");
        if (InitialTrials < 2)
            throw new UsageException("--repeats", $"{InitialTrials} initial trials per commit cannot give a verdict", "Use at least 2 (5 or more recommended)");
        if (MaxTrialsPerPosition < InitialTrials)
            throw new UsageException("--max-trials", $"the cap {MaxTrialsPerPosition} is below the initial {InitialTrials} trials", "Raise the cap or lower the initial trials");
        if (Alpha is <= 0 or >= 0.5)
            throw new UsageException("--alpha", $"{Alpha} is not a significance level", "Use a value in (0, 0.5), e.g. 0.01");
        if (Confidence is <= 0.5 or >= 1)
            throw new UsageException("--confidence", $"{Confidence} is not a useful posterior threshold", "Use a value in (0.5, 1), e.g. 0.95");
        if (Decision.MinEffect < 0)
            // The recipe loader rejects this already; a recipe built in code can still get here, and min-effect is no flag.
            throw new UsageException("recipe decide.min-effect", $"{Decision.MinEffect} is negative", "Give the smallest change that matters as a non-negative number");
    }
}
