using System.Globalization;
using System.Text.Json;
using Bisector.Git;
using Bisector.Search;
using Bisector.Storage;

namespace Bisector.Runs;

/// <summary>
/// The scan for further changes as a step of a run (<see cref="RangeScan"/> over the run's own <see cref="Measurer"/>,
/// so its trials are the run's trials and every trial the search took is reused), on by default after a named culprit,
/// off with <c>--no-scan</c>. Its result is stored with the run for the report.
/// </summary>
internal static class RangeScanStep
{
    public static async Task<RangeChanges?> RunAsync(
        ResultsStore store, string runId, RunOptions options, Measurer measurer, CommitLine line, SearchOutcome outcome, SearchOptions searchOptions,
        Action<string> log, CancellationToken ct)
    {
        if (options.NoScan || outcome.Status != SearchStatus.Found)
            return null;
        var budget = RangeScan.Budget(outcome);
        log($"scan for further changes before and after {line[outcome.Culprit!.Value].ShortSha} (at most {budget} new trials)");
        var changes = await RangeScan.RunAsync(line.CandidateCount, outcome, measurer.EnsureAsync, measurer.OkTrials, searchOptions, budget, ct);
        if (changes is null)
            return null;
        await store.SetRangeChangesAsync(runId, JsonSerializer.Serialize(changes, RunEngine.Json), ct);
        foreach (var segment in changes.Segments)
            log(string.Create(CultureInfo.InvariantCulture, $"  {line[segment.From].ShortSha}..{line[segment.To].ShortSha} ({segment.Direction}): {segment.Explanation}"));
        log(string.Create(CultureInfo.InvariantCulture, $"scan: {changes.Changes.Count} change(s) in the range, {changes.NewTrials} new trial(s)"));
        return changes;
    }

    /// <summary>The stored scan of a run; null when it was not scanned.</summary>
    public static async Task<RangeChanges?> LoadAsync(ResultsStore store, string runId, CancellationToken ct) =>
        await store.GetRangeChangesAsync(runId, ct) is { } json ? JsonSerializer.Deserialize<RangeChanges>(json, RunEngine.Json) : null;
}
