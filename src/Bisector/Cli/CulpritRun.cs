using Bisector.Git;
using Bisector.Recipes;
using Bisector.Runs;
using Bisector.Search;
using Bisector.Storage;

namespace Bisector.Cli;

/// <summary>A finished run that named a culprit, read back for a verb that works on its culprit afterwards
/// (<c>diagnose</c>, <c>revert</c>), with <c>--workers</c> applied over the run's own.</summary>
internal sealed record CulpritRun(RunRow Run, Recipe Recipe, RunOptions Options, SearchOutcome Outcome, CommitLine Positions)
{
    /// <param name="doing">What the verb does to the culprit ("diagnose", "revert"), for the error message.</param>
    public static async Task<CulpritRun> LoadAsync(ResultsStore store, string? runId, IReadOnlyList<string> workers, string doing, CancellationToken ct)
    {
        var row = await store.GetRunAsync(runId, ct)
            ?? throw new StorageException("no such run", "List runs with 'bisector status --list'");
        var (stored, recipe, options, outcome) = await ReportAssembler.ReadRunAsync(store, row.Id, ct);
        if (stored.Status != RunStatus.Finished || outcome is not { Status: SearchStatus.Found })
        {
            throw new UsageException("run", $"run {stored.Id} is {stored.Status.ToString().ToLowerInvariant()} and named no single culprit, so there is nothing to {doing}",
                $"Give a finished run whose verdict names a culprit ('bisector status --list' lists runs)");
        }

        var chosen = workers.SelectMany(w => w.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();
        var positions = CommitLine.InOrder((await store.GetCommitsAsync(stored.Id, ct)).OrderBy(c => c.Position).Select(ReportAssembler.ToCommit));
        return new CulpritRun(stored, recipe, chosen.Count > 0 ? options with { Workers = chosen } : options, outcome, positions);
    }
}
