namespace Bisector.Sampling;

/// <summary>
/// Samples one process (<c>/proc/PID/status</c>) and one memory cgroup into <see cref="Sample"/>s. Files stay open and
/// one buffer is reused, so a sample costs a few <c>pread</c> calls and no allocations beyond the result list.
/// </summary>
public sealed class ProcSampler : IDisposable
{
    private readonly byte[] _buffer = new byte[16 * 1024];
    private readonly KernelFile? _usage;
    private readonly KernelFile? _stat;
    private readonly byte[] _anonKey;
    private readonly bool _vmRss;
    private readonly bool _rssAnon;
    private readonly bool _rssFile;
    private readonly bool _vmData;
    private readonly bool _cgroupUsage;
    private readonly bool _cgroupRss;
    private readonly string? _heapFile;
    private KernelFile? _status;
    private KernelFile? _heap;

    /// <param name="cgroup">The daemon's cgroup files, or null to sample the process only.</param>
    /// <param name="metrics">Which <see cref="Metrics"/> to record; empty means all of them.</param>
    /// <param name="heapFile">The heapstats shim's record file, or null when heap counters are off. It appears only
    /// once the daemon has started, so it is opened on the first tick that finds it.</param>
    public ProcSampler(CgroupFiles? cgroup, IReadOnlyCollection<string> metrics, string? heapFile = null)
    {
        _heapFile = heapFile;
        bool Wants(string metric) => metrics.Count == 0 || metrics.Contains(metric);
        _vmRss = Wants(Metrics.VmRss);
        _rssAnon = Wants(Metrics.RssAnon);
        _rssFile = Wants(Metrics.RssFile);
        _vmData = Wants(Metrics.VmData);
        _cgroupUsage = cgroup is not null && Wants(Metrics.CgroupUsage);
        _cgroupRss = cgroup is not null && Wants(Metrics.CgroupRss);
        _usage = _cgroupUsage ? KernelFile.TryOpen(cgroup!.UsageFile) : null;
        _stat = _cgroupRss ? KernelFile.TryOpen(cgroup!.StatFile) : null;
        _anonKey = System.Text.Encoding.ASCII.GetBytes(cgroup?.AnonStatKey ?? "rss");
    }

    /// <summary>The process whose /proc/PID/status is read, or null before it is known.</summary>
    public int? Pid { get; private set; }

    /// <summary>Switches to another process (e.g. once the real daemon behind a shell wrapper is known).</summary>
    public void Track(int pid)
    {
        if (Pid == pid)
        {
            return;
        }

        _status?.Dispose();
        _status = KernelFile.TryOpen($"/proc/{pid}/status");
        Pid = pid;
    }

    /// <summary>Appends one reading per wanted metric that is readable right now; returns how many were added.</summary>
    public int SampleInto(double seconds, List<Sample> into)
    {
        var before = into.Count;
        if (_status is not null && (_vmRss || _rssAnon || _rssFile || _vmData)
            && MemoryParsers.TryParseProcStatus(_status.Read(_buffer), out var proc))
        {
            if (_vmRss)
            {
                into.Add(new Sample(seconds, Metrics.VmRss, proc.VmRss));
            }

            if (_rssAnon)
            {
                into.Add(new Sample(seconds, Metrics.RssAnon, proc.RssAnon));
            }

            if (_vmData)
            {
                into.Add(new Sample(seconds, Metrics.VmData, proc.VmData));
            }

            if (_rssFile)
            {
                into.Add(new Sample(seconds, Metrics.RssFile, proc.RssFile));
            }
        }

        if (_usage is not null && MemoryParsers.TryParseSingle(_usage.Read(_buffer), out var usage))
        {
            into.Add(new Sample(seconds, Metrics.CgroupUsage, usage));
        }

        if (_stat is not null && MemoryParsers.TryParseKeyed(_stat.Read(_buffer), _anonKey, out var anon))
        {
            into.Add(new Sample(seconds, Metrics.CgroupRss, anon));
        }

        if (_heapFile is not null && (_heap ??= File.Exists(_heapFile) ? KernelFile.TryOpen(_heapFile) : null) is { } heap
            && HeapCounters.TryParse(heap.Read(_buffer), out var counters))
        {
            counters.AddTo(seconds, into);
        }

        return into.Count - before;
    }

    public void Dispose()
    {
        _status?.Dispose();
        _usage?.Dispose();
        _stat?.Dispose();
        _heap?.Dispose();
    }
}
