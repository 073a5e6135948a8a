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
}
