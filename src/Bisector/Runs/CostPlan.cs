using System.Globalization;
using Bisector.Statistics;

namespace Bisector.Runs;

/// <summary>Where a plan's noise and effect come from, best first.</summary>
public enum PlanBasis
{
    /// <summary>A stored run of the same recipe (recipe hash) in the results database.</summary>
    StoredRun,

    /// <summary>An A/A calibration: one build measured as both ends, so the noise is known and the effect is not.</summary>
    Calibration,

    /// <summary>The first round of this run: the ends' trials.</summary>
    FirstTrials,

    /// <summary>Nothing measured with this recipe yet: the plan shows the range between a min-effect and a large change.</summary>
    None,
}

/// <summary>When the plan was made: before the first trial, or re-planned from this run's first round.</summary>
public enum PlanStage
{
    Start,
    FirstRound,
}

/// <summary>Median and 10th–90th percentile of one quantity over the simulated searches.</summary>
public sealed record Spread(double Median, double Low, double High)
{
    public static Spread Of(IReadOnlyList<double> values) =>
        new(Robust.Quantile(values, 0.5), Robust.Quantile(values, 0.1), Robust.Quantile(values, 0.9));
}

/// <summary>One kind of change the search was simulated on, and what the simulated searches spent.</summary>
/// <param name="Change">"the change the basis measured", "a change of min-effect", "a large change (10 × min-effect)".</param>
/// <param name="Effect">The simulated shift of the deciding feature at the culprit, in the feature's units.</param>
/// <param name="Named">Share of the simulated searches that named the culprit (or its range).</param>
public sealed record PlanCase(string Change, double Effect, Spread Trials, Spread Rounds, Spread Seconds, double Named);

/// <summary>
/// What a run is expected to cost before it starts: the search simulated (<see cref="CostPlanner"/>) on the fitted noise
/// and effect, with this run's candidates, workers and options, over many seeds. Prose is derived here, when shown.
/// </summary>
/// <param name="Description">Which run, calibration or round the noise and effect were fitted on, or why there is none.</param>
/// <param name="TrialSeconds">Wall time of one trial slot (start-up, warm-up and window), measured or from the recipe.</param>
/// <param name="TrialTime">Where <paramref name="TrialSeconds"/> comes from.</param>
/// <param name="BuildSeconds">Median time of one real build (not a cache hit); null when none was measured.</param>
/// <param name="CachedBuilds">Candidates (ends included) whose build is already in the artifact cache: they cost no build time.</param>
public sealed record CostPlan(
    PlanStage Stage,
    PlanBasis Basis,
    string Description,
    int Candidates,
    string Workers,
    int WorkerCount,
    double TrialSeconds,
    string TrialTime,
    double? BuildSeconds,
    int CachedBuilds,
    int Seeds,
    IReadOnlyList<PlanCase> Cases)
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Below this share of simulated searches naming the culprit, the headline says so: the trials are then
    /// mostly those of searches that end undecided (typically at the trial cap).</summary>
    public const double MostlyNamed = 0.9;

    /// <summary>The case a single figure stands for: the measured change, else a change of min-effect (the dearer one).</summary>
    public PlanCase Main => Cases[0];

    /// <summary>"≈ 30 trials (22–41) in ≈ 9 rounds ≈ 25 min on local:2", one clause per case.</summary>
    public string Headline => string.Join("; ", Cases.Select(c =>
        (Cases.Count > 1 ? c.Change + ": " : string.Empty) +
        string.Create(Inv, $"≈ {c.Trials.Median:0} trials ({c.Trials.Low:0}–{c.Trials.High:0}) in ≈ {c.Rounds.Median:0} rounds ≈ {Minutes(c.Seconds.Median)} ({Minutes(c.Seconds.Low)}–{Minutes(c.Seconds.High)})") +
        (c.Named < MostlyNamed ? string.Create(Inv, $", naming a culprit in only {c.Named:P0} of the simulated searches") : string.Empty))) +
        $" on {Workers}";

    /// <summary>The lines a terminal and a dry run print: the estimate, its basis, and how the time was counted.</summary>
    public IReadOnlyList<string> Lines =>
    [
        $"plan{(Stage == PlanStage.FirstRound ? " (re-planned after round 1)" : string.Empty)}: {Headline}",
        $"  basis: {Description}",
        "  time: " + string.Create(Inv, $"{TrialSeconds:0.#} s a trial slot ({TrialTime}), ") +
            (BuildSeconds is { } b ? string.Create(Inv, $"{b:0.#} s a build") : "builds not counted (none measured with this recipe yet)") +
            string.Create(Inv, $", {CachedBuilds} of {Candidates + 1} builds already cached; {Seeds} simulated searches a case, median (10th–90th percentile)"),
    ];

    /// <summary>"plan: 30 trials, 25 min; spent: 26 trials, 21 min".</summary>
    public string Versus(int trialsSpent, TimeSpan spent) =>
        string.Create(Inv, $"plan: {Main.Trials.Median:0} trials, {Minutes(Main.Seconds.Median)}; spent: {trialsSpent} trials, {Minutes(spent.TotalSeconds)}");

    public static string Minutes(double seconds) => seconds < 90
        ? string.Create(Inv, $"{seconds:0} s")
        : string.Create(Inv, $"{seconds / 60:0} min");
}
