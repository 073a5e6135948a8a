namespace Bisector.Search;

/// <summary>How a round of requested trials fills the workers: the one rule the measurer, the cost plan and the replay
/// benchmark share, so a replay hands the search what a real run would.</summary>
internal static class WorkerSlots
{
    /// <summary>
    /// Trials per commit for one round, raised so the round's last slot keeps every worker busy: 5 trials on 2
    /// workers would leave one idle for a whole trial, so the commits that are already in the round get one more
    /// each, in request order. Nothing is wasted: the search is handed every Ok trial, the extra ones included, and
    /// sizes its next requests on all of them.
    /// </summary>
    public static int[] Fill(IReadOnlyList<int> missing, int workers)
    {
        var counts = missing.ToArray();
        var total = counts.Sum();
        var measured = Enumerable.Range(0, counts.Length).Where(i => counts[i] > 0).ToArray();
        if (workers < 2 || total == 0)
        {
            return counts;
        }

        var idle = (workers - total % workers) % workers;
        for (var k = 0; k < idle; k++)
        {
            counts[measured[k % measured.Length]]++;
        }

        return counts;
    }
}
