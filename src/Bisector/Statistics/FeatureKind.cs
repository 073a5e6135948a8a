namespace Bisector.Statistics;

/// <summary>The scalar a trial's series is reduced to before commits are compared.</summary>
public enum FeatureKind
{
    /// <summary>Robust slope (Theil–Sen) after the warm-up, in metric units per minute.</summary>
    Slope,

    /// <summary>Median of the last part of the window: the level the series settles at.</summary>
    Plateau,

    /// <summary>Maximum after the warm-up.</summary>
    Peak,

    /// <summary>Mean after the warm-up.</summary>
    Mean,

    /// <summary>Median of every sample after the warm-up: the level of a series that is flat once warm. Uses three
    /// times the samples <see cref="Plateau"/> does, so on a flat series it is the less noisy of the two; on a series
    /// that still climbs it averages the climb in, which <see cref="Plateau"/> avoids.</summary>
    Level,
}
