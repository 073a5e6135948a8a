using Bisector.Runs;

namespace Bisector.Tests.Runs;

public sealed class RoundPlanSpecs
{
    [Fact]
    public void I_can_keep_both_workers_busy_in_a_round_of_five_trials()
    {
        // Arrange: the search asks for 5 trials of one commit, 2 workers
        int[] missing = [5];

        // Act
        var counts = Bisector.Search.WorkerSlots.Fill(missing, workers: 2);

        // Assert: 6 trials in 3 slots instead of 5 with one worker idle in the last
        Assert.Equal([6], counts);
    }

    [Fact]
    public void I_can_fill_idle_slots_only_with_commits_already_in_the_round()
    {
        // Arrange: three commits asked for, one of them already has all its trials (a resumed run)
        int[] missing = [3, 0, 2];

        // Act
        var fourWorkers = Bisector.Search.WorkerSlots.Fill(missing, workers: 4);
        var oneWorker = Bisector.Search.WorkerSlots.Fill(missing, workers: 1);
        var nothing = Bisector.Search.WorkerSlots.Fill([0, 0], workers: 2);
        var even = Bisector.Search.WorkerSlots.Fill([5, 5], workers: 2);

        // Assert
        Assert.Equal([5, 0, 3], fourWorkers);
        Assert.Equal([3, 0, 2], oneWorker);
        Assert.Equal([0, 0], nothing);
        Assert.Equal([5, 5], even);
    }

    [Fact]
    public void I_can_get_a_fresh_trial_of_a_commit_whose_earlier_round_was_filled_with_an_extra_one()
    {
        // Arrange: round 4 asks 1 trial of position 10 and runs 2 (the idle worker's extra); the search is handed both
        var wants = new TrialWants();
        var probe = wants.Missing(10, wants.After(10, 1), have: 0);
        var filled = Bisector.Search.WorkerSlots.Fill([probe, 1], workers: 4);
        wants.Handed([Evidence(10, filled[0])]);

        // Act: verification then asks 1 fresh trial of it
        var fresh = wants.Missing(10, wants.After(10, 1), have: filled[0]);

        // Assert: one new trial, not none (journald run 12 lost a 2-minute round to that)
        Assert.Equal(2, filled[0]);
        Assert.Equal(1, fresh);
    }

    [Fact]
    public void I_can_resume_a_run_without_measuring_again_what_was_stored_before()
    {
        // Arrange: 5 trials of the good end were stored before the process stopped; the resumed search asks 2, as at its start
        var wants = new TrialWants();

        // Act
        var first = wants.Missing(0, wants.After(0, 2), have: 5);
        wants.Handed([Evidence(0, 5)]);
        var next = wants.Missing(0, wants.After(0, 1), have: 5);

        // Assert: the stored ones answer the first request; the next asks beyond all five
        Assert.Equal(0, first);
        Assert.Equal(1, next);
    }

    private static Bisector.Search.PositionEvidence Evidence(int position, int trials) =>
        new(position, false, Enumerable.Repeat(new Bisector.Statistics.TrialSeries([], []), trials).ToArray());
}
