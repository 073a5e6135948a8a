namespace Bisector.Sampling;

/// <summary>Well-known metric names. A sampler may add others (e.g. heap counters); names are stable in the database.</summary>
public static class Metrics
{
    public const string VmRss = "vm_rss";
    public const string RssAnon = "rss_anon";
    public const string RssFile = "rss_file";
    public const string CgroupUsage = "cgroup_usage";
    public const string CgroupRss = "cgroup_rss";
}

/// <summary>One reading of one metric at a time offset (seconds since the daemon started), in bytes for memory metrics.</summary>
public readonly record struct Sample(double Seconds, string Metric, double Value);
