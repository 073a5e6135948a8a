using Bisector.Git;
using Bisector.Runs;
using Bisector.Sampling;
using Bisector.Storage;
using Bisector.Workers;

namespace Bisector.Tests.Runs;

public sealed class TrialLedgerSpecs : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("bisector-ledger-").FullName;

    [Fact]
    public async Task I_can_resume_with_the_stored_evidence_read_once_and_new_trials_appended_after_it()
    {
        // Arrange: a run interrupted with two Ok trials of position 1, a crashed one, and a gap (trial 2 was in flight)
        await using var store = await ResultsStore.OpenAsync(Path.Combine(_directory, "bisector.db"));
        await store.CreateRunAsync(
            new RunRow("r1", "2026-11-25T00:00:00.000Z", null, RunStatus.Interrupted, "/repo", "a..b", "[]", "demo", new string('a', 64),
                "/r.yaml", "name: demo", "{}", "{}", "bisector start a..b", "0.1.0", "host", null, null),
            [new CommitRow(0, "aaa", "good", "A", "2026-01-01T00:00:00Z", ""), new CommitRow(1, "bbb", "bad", "B", "2026-01-02T00:00:00Z", "aaa")]);
        await store.AddTrialAsync("r1", Trial(1, 0, TrialOutcome.Ok, 10));
        await store.AddTrialAsync("r1", Trial(1, 1, TrialOutcome.DaemonCrashed, 99));
        await store.AddTrialAsync("r1", Trial(1, 3, TrialOutcome.Ok, 30));

        // Act
        var ledger = await TrialLedger.LoadAsync(store, "r1", Metrics.RssAnon, CancellationToken.None);
        var loaded = ledger.Count;
        var before = ledger.Evidence(1);
        ledger.Add(1, ledger.NextIndex(1), Result(TrialOutcome.Ok, 40));
        var after = ledger.Evidence(1);

        // Assert: Ok trials only, in stored order; the lost index 2 and the crashed 1 are never reused
        Assert.Equal(3, loaded);
        Assert.Equal([10.0, 30.0], before.Trials.Select(t => t.Values[0]));
        Assert.False(before.Skipped);
        Assert.Equal([10.0, 30.0, 40.0], after.Trials.Select(t => t.Values[0]));
        Assert.Equal(5, ledger.NextIndex(1));
        Assert.Equal(3, ledger.OkCount(1));
        Assert.True(ledger.Evidence(0).Skipped);
        Assert.Equal(0, ledger.NextIndex(0));
    }

    [Fact]
    public void I_can_look_up_a_commit_by_position_on_the_commit_line()
    {
        // Arrange
        var commits = Enumerable.Range(0, 4).Select(i => new Commit(new string((char)('a' + i), 40), $"c{i}", "A", DateTimeOffset.UnixEpoch, [])).ToList();

        // Act
        var line = CommitLine.InOrder(commits);

        // Assert
        Assert.Equal(3, line.CandidateCount);
        Assert.Same(commits[0], line.Anchor);
        Assert.Same(commits[3], line[3]);
        Assert.Equal(2, line.PositionOf(commits[2].Sha));
        Assert.Equal(1, CommitLine.PositionOfCandidate(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => line[4]);
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static NewTrial Trial(int position, int index, TrialOutcome outcome, double value)
    {
        var result = Result(outcome, value);
        return new NewTrial(position, "bbb", index, 1, "local-1", "h", outcome, null, result.StartedAt, result.EndedAt, result.Samples);
    }

    private static TrialResult Result(TrialOutcome outcome, double value) =>
        new(outcome, null, [new Sample(0.1, Metrics.RssAnon, value), new Sample(0.1, Metrics.VmRss, value * 2), new Sample(0.2, Metrics.RssAnon, value + 1)],
            DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch.AddSeconds(1), "h");
}
