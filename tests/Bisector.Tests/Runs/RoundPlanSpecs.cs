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
        var counts = RoundPlan.FillIdleWorkers(missing, workers: 2);

        // Assert: 6 trials in 3 slots instead of 5 with one worker idle in the last
        Assert.Equal([6], counts);
    }

    [Fact]
    public void I_can_fill_idle_slots_only_with_commits_already_in_the_round()
    {
        // Arrange: three commits asked for, one of them already has all its trials (a resumed run)
        int[] missing = [3, 0, 2];

        // Act
        var fourWorkers = RoundPlan.FillIdleWorkers(missing, workers: 4);
        var oneWorker = RoundPlan.FillIdleWorkers(missing, workers: 1);
        var nothing = RoundPlan.FillIdleWorkers([0, 0], workers: 2);
        var even = RoundPlan.FillIdleWorkers([5, 5], workers: 2);

        // Assert
        Assert.Equal([5, 0, 3], fourWorkers);
        Assert.Equal([3, 0, 2], oneWorker);
        Assert.Equal([0, 0], nothing);
        Assert.Equal([5, 5], even);
    }
}
