using Bisector.Workers;

namespace Bisector.Building;

/// <summary>
/// How a build's processes share the CPUs. A build ahead (made while trials run, for a commit the search may want next)
/// starts every step in a process group of its own at nice +19, so the trials it overlaps keep the CPUs; when a round
/// waits for that build, <see cref="Raise"/> gives the whole group the run's own priority at once (this needs
/// CAP_SYS_NICE, as root has; without it the build finishes at its low priority).
/// </summary>
public sealed class BuildPriority
{
    /// <summary>Nice increment of a build ahead's steps.</summary>
    public const int LowNice = 19;

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<int, byte> Live = new();
    private readonly Lock _gate = new();
    private readonly HashSet<int> _groups = [];

    private BuildPriority(bool low) => Low = low;

    /// <summary>Whether steps started from now on run at <see cref="LowNice"/>.</summary>
    public bool Low { get; private set; }

    public static BuildPriority Background() => new(low: true);

    /// <summary>The command line a step runs under: as it is, or in a new session (process group) at low priority.</summary>
    internal (IReadOnlyList<string> Command, bool Low) Wrap(string step)
    {
        lock (_gate)
        {
            return Low
                ? (["setsid", "-w", "nice", "-n", LowNice.ToString(System.Globalization.CultureInfo.InvariantCulture), "/bin/sh", "-c", step], true)
                : (["/bin/sh", "-c", step], false);
        }
    }

    /// <summary>A step's process started; when it was started low, its PID leads its process group. Raised in between:
    /// the group gets the run's priority now.</summary>
    internal void Started(int pid, bool low)
    {
        lock (_gate)
        {
            if (!low)
                return;
            Live[pid] = 0;
            _groups.Add(pid);
            if (!Low)
                Posix.SetGroupNice(pid, Posix.OwnNice());
        }
    }

    internal void Ended(int pid)
    {
        Live.TryRemove(pid, out _);
        lock (_gate)
            _groups.Remove(pid);
    }

    /// <summary>A forced exit (a second Ctrl+C): kills every build step that runs in a group of its own now, which the
    /// terminal's signal does not reach.</summary>
    public static void KillAllNow()
    {
        foreach (var group in Live.Keys)
            Posix.KillGroup(group, Posix.SigKill);
    }

    /// <summary>Kills every process of the running step at once (the whole group: a build's compilers hold its output
    /// pipes, so killing the shell alone would leave the step waiting for them at nice +19).</summary>
    public void Kill()
    {
        lock (_gate)
        {
            foreach (var group in _groups)
                Posix.KillGroup(group, Posix.SigKill);
        }
    }

    /// <summary>From now on at the run's own priority: the running step's group now, later steps when they start.</summary>
    public void Raise()
    {
        lock (_gate)
        {
            Low = false;
            var own = Posix.OwnNice();
            foreach (var group in _groups)
                Posix.SetGroupNice(group, own);
        }
    }
}
