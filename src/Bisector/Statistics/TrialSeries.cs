namespace Bisector.Statistics;

/// <summary>One trial's series of the deciding metric: seconds since the daemon started, and values.</summary>
public sealed record TrialSeries(IReadOnlyList<double> Seconds, IReadOnlyList<double> Values)
{
    public int Count => Values.Count;
}
