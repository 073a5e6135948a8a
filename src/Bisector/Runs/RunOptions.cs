using Bisector.Recipes;
using Bisector.Reporting;
using Bisector.Search;

namespace Bisector.Runs;

/// <summary>Every setting of a run after flags and bisect.yaml are merged and validated.</summary>
public sealed record RunOptions(
    string RepositoryPath,
    string Range,
    IReadOnlyList<string> Paths,
    string RecipePath,
    IReadOnlyList<string> Workers,
    SearchStrategy Strategy,
    double Confidence,
    double Alpha,
    int? Repeats,
    int? MaxTrials,
    TimeSpan? Window,
    TimeSpan? Warmup,
    string ResultsDirectory,
    bool FirstParent,
    bool NoMerges,
    string CommandLine)
{
    /// <summary>Where <see cref="Workers"/> came from, as the run's first line says it: "--workers", "bisect.yaml", or
    /// the machine default ("default: 2 cores"); null for runs stored before it was recorded.</summary>
    public string? WorkersFrom { get; init; }

    /// <summary>Run the last good build and the culprit once each under heaptrack and compare allocation sites.</summary>
    public bool ProfileBoundary { get; init; }

    /// <summary>Measure the bad end's build as both sides (A/A) before the search and report the false-positive rate.</summary>
    public bool Calibrate { get; init; }

    /// <summary>After a culprit is named, run it and its good neighbour again under other allocators, glibc tunables
    /// and a trim probe (diagnosis by experiment).</summary>
    public bool Experiments { get; init; }

    /// <summary>Skip the revert proof (<c>--no-revert</c>): by default a named culprit is reverted on the bad end, built
    /// and measured against both ends.</summary>
    public bool NoRevert { get; init; }

    /// <summary>Do not build ahead (<c>--no-build-ahead</c>): by default, while a round's trials run, the commits the
    /// search may want next are built at the lowest CPU priority, so the next round need not wait for their builds.</summary>
    public bool NoBuildAhead { get; init; }

    /// <summary>The run's words and what it looks for (<c>--find-fix</c>, <c>--term-old</c>, <c>--term-new</c>); runs
    /// stored before they existed read as a regression in git bisect's default words.</summary>
    public Terms Terms { get; init; } = Terms.Regression;

    /// <summary>The recipe as this run decides with it: a fix run looks for the opposite of the recipe's direction.
    /// Start and resume both apply it, so a resumed run's recipe hash matches the stored one.</summary>
    public Recipe ForKind(Recipe recipe) => Terms.IsFix ? RecipeOverrides.FindingFix(recipe) : recipe;

    /// <summary>Skip the scan for further changes before and after a named culprit (<c>--no-scan</c>).</summary>
    public bool NoScan { get; init; }
}
