using Bisector.Statistics;

namespace Bisector.Search;

/// <summary>
/// Positions: 0 is the known-good anchor, 1..N are the candidates oldest → newest; N is treated as the bad end.
/// A request asks for this many more trials of one position.
/// </summary>
public sealed record MeasureRequest(int Position, int AdditionalTrials);

/// <summary>Everything measured so far at a position: all its successful trials' series of the deciding metric,
/// or <see cref="Skipped"/> when the commit cannot be built.</summary>
public sealed record PositionEvidence(int Position, bool Skipped, IReadOnlyList<TrialSeries> Trials)
{
    /// <summary>The deciding feature of each trial when already known (a replay of stored features); null: the
    /// search extracts it from <see cref="Trials"/>.</summary>
    public IReadOnlyList<double>? Features { get; init; }

    /// <summary>Set when this position's build is identical (same code and data) to the build of the position given
    /// here, which was measured first: the trials are that position's, shared, not new ones. Under one change the two
    /// are on the same side of it, so no commit after the first of them up to the second can be the culprit.</summary>
    public int? SameBuildAs { get; init; }
}

/// <summary>Positions whose builds are identical (same code and data, <see cref="PositionEvidence.SameBuildAs"/>):
/// every trial ran at <see cref="MeasuredAt"/> and stands for all of them.</summary>
public sealed record BuildGroup(int MeasuredAt, IReadOnlyList<int> Positions);

/// <summary>The effectful edge of the search: build, deploy, run and sample the requested positions (in parallel
/// where workers allow) and return the cumulative evidence of each requested position.</summary>
public delegate Task<IReadOnlyList<PositionEvidence>> MeasureAsync(IReadOnlyList<MeasureRequest> requests, CancellationToken ct);

public enum SearchStatus
{
    /// <summary>One commit is named with the requested confidence.</summary>
    Found,

    /// <summary>The culprit is one of a contiguous range because its neighbours could not be built.</summary>
    FoundRange,

    /// <summary>The bad end does not differ from the good end: nothing to blame.</summary>
    NoRegression,

    /// <summary>The evidence does not support naming a commit with the requested confidence within the budget.</summary>
    Undecided,
}

/// <summary>One round of the search: which positions were measured and why.</summary>
public sealed record SearchRound(int Number, IReadOnlyList<int> Positions, string Reason)
{
    /// <summary>What the search asked for; the <see cref="Reason"/> ends with what actually ran.</summary>
    public IReadOnlyList<MeasureRequest> Requested { get; init; } = [];
}

/// <summary>How the search held its error rates, for the report: α is per search (the e-value "the range holds a
/// change" must reach 1/α before anything is blamed, valid by Ville's inequality at any number of looks), β the
/// probability per search of calling a regression of the min-effect "no regression" (the ends' exact shift interval at a
/// boundary calibrated over every look).</summary>
public sealed record ErrorControl(double Alpha, double Beta, double EValue, bool RegressionShown)
{
    public string Statement => string.Create(System.Globalization.CultureInfo.InvariantCulture,
        $"α = {Alpha} per search (anytime-valid: e-value {EValueText.Value(EValue)}, a regression is named only at ≥ {1 / Alpha:G4}); 'no regression' at β = {Beta} per search (exact shift interval, one boundary calibrated over every look)");
}

public sealed record SearchOutcome(
    SearchStatus Status,
    int? Culprit,
    int RangeFirst,
    int RangeLast,
    double Confidence,
    Comparison? Boundary,
    IReadOnlyList<double> Posterior,
    IReadOnlyDictionary<int, Comparison> VersusGood,
    IReadOnlyList<SearchRound> Rounds,
    int TrialsSpent,
    bool TrialCapHit,
    string Summary)
{
    public SearchStrategy Strategy { get; init; }

    /// <summary>Change points found over the whole commit series (exhaustive strategy only), on the plateau and the
    /// slope, so a level step can be told from a change in growth rate.</summary>
    public IReadOnlyList<ChangePoint> ChangePoints { get; init; } = [];

    /// <summary>Measured positions whose trials fall into two separated groups (see <see cref="Modality"/>); their
    /// medians and comparisons describe neither group, so the report must show them.</summary>
    public IReadOnlyList<BimodalityWarning> Bimodal { get; init; } = [];

    /// <summary>The per-search error rates and the evidence reached (null for outcomes stored before they existed).</summary>
    public ErrorControl? ErrorControl { get; init; }

    /// <summary>Whether the good end's trials, in the order they ran, drift (they are compared with positions measured
    /// rounds later).</summary>
    public DriftCheck? GoodEndDrift { get; init; }

    /// <summary>Groups of probed positions with identical builds (two or more each), which shared one position's trials.</summary>
    public IReadOnlyList<BuildGroup> IdenticalBuilds { get; init; } = [];

    /// <summary>The position whose stored trials stand for <paramref name="position"/>: itself unless its build was
    /// identical to one measured before it.</summary>
    public int MeasuredAs(int position) =>
        IdenticalBuilds.FirstOrDefault(g => g.Positions.Contains(position))?.MeasuredAt ?? position;
}
