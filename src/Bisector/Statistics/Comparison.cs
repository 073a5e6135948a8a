using Bisector.Recipes;

namespace Bisector.Statistics;

public enum Verdict
{
    Regressed,
    Same,
    Improved,
    Unknown,
}

/// <summary>
/// The outcome of comparing two commits' trials on one feature, with everything that produced it:
/// the test, its p-value, the significance level, the effect (bad − good, Hodges–Lehmann) with its confidence
/// interval, and the smallest effect that counts. Immutable; computed once from the kept raw values.
/// </summary>
public sealed record Comparison(
    Verdict Verdict,
    string Test,
    double PValue,
    double Alpha,
    double Effect,
    double EffectLow,
    double EffectHigh,
    double ConfidenceLevel,
    double Threshold,
    IReadOnlyList<double> Baseline,
    IReadOnlyList<double> Candidate,
    string Explanation)
{
    /// <summary>Which sign of <see cref="Effect"/> is a regression.</summary>
    public RegressionDirection Direction { get; init; } = RegressionDirection.Increase;
}
