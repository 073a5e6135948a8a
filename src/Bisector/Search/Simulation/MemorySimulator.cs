using Bisector.Statistics;

namespace Bisector.Search.Simulation;

/// <summary>
/// A synthetic commit series for the benchmark and the tests. Each trial samples a daemon's memory once a second:
/// a start-up ramp during the warm-up, then base level + a per-trial offset + per-sample noise, both Student-t (ν = 3,
/// heavy-tailed), quantised to 4 KiB pages. From <see cref="Culprit"/> on, the level steps up by
/// <see cref="LevelStep"/> and/or grows <see cref="SlopePerMinute"/> faster; each of <see cref="LaterChanges"/> steps the
/// level again (up or down) from its position on (`bench scan`: several changes in one range). Unbuildable positions come
/// back Skipped.
/// </summary>
public sealed record SimulationScenario(
    int Candidates,
    int? Culprit,
    double LevelStep,
    double SlopePerMinute,
    IReadOnlyList<int> Unbuildable,
    double BaseLevel = 17e6,
    double TrialNoise = 300e3,
    double SampleNoise = 1e6,
    double WindowSeconds = 120,
    double WarmupSeconds = 20,
    IReadOnlyList<LevelChange>? LaterChanges = null);

/// <summary>A further level step of <see cref="Step"/> bytes (negative: a fix) from <see cref="Position"/> on.</summary>
public sealed record LevelChange(int Position, double Step);

/// <summary>Deterministic: trial k of position p depends only on (seed, p, k), so every method run on the same seed
/// sees the same trials in whatever order it asks for them.</summary>
public sealed class MemorySimulator(SimulationScenario scenario, int seed)
{
    /// <summary>The seed the trials are drawn with (benchmark traces name it, so one search can be run again).</summary>
    public int Seed => seed;

    public const double PageBytes = 4096;

    private readonly Dictionary<int, List<TrialSeries>> _trials = new();

    public SimulationScenario Scenario => scenario;
    public int TrialsRun { get; private set; }
    public int Calls { get; private set; }

    public bool IsBad(int position) => scenario.Culprit is { } c && position >= c;
    public bool IsUnbuildable(int position) => scenario.Unbuildable.Contains(position);

    public Task<IReadOnlyList<PositionEvidence>> MeasureAsync(IReadOnlyList<MeasureRequest> requests, CancellationToken ct = default)
    {
        ct.ThrowIfCancellationRequested();
        Calls++;
        var result = new List<PositionEvidence>(requests.Count);
        foreach (var r in requests)
        {
            if (r.Position < 0 || r.Position > scenario.Candidates)
                throw new ArgumentOutOfRangeException(nameof(requests), r.Position, "position outside 0..N");
            if (IsUnbuildable(r.Position))
            {
                result.Add(new PositionEvidence(r.Position, true, []));
                continue;
            }
            var list = Trials(r.Position);
            for (var k = 0; k < r.AdditionalTrials; k++)
                list.Add(Trial(r.Position, list.Count));
            TrialsRun += r.AdditionalTrials;
            result.Add(new PositionEvidence(r.Position, false, list.ToArray()));
        }
        return Task.FromResult<IReadOnlyList<PositionEvidence>>(result);
    }

    /// <summary>The scan's edge (<see cref="EnsureTrialsAsync"/>): each target position gets trials up to the count
    /// asked for, the ones it has kept, as a run's measurer keeps them.</summary>
    public Task<IReadOnlyList<PositionEvidence>> EnsureAsync(IReadOnlyList<TrialTarget> targets, CancellationToken ct = default) =>
        MeasureAsync(targets.Select(t => new MeasureRequest(t.Position, Math.Max(0, t.Trials - OkTrials(t.Position)))).ToArray(), ct);

    /// <summary>Trials a position holds (0 for an unbuildable one).</summary>
    public int OkTrials(int position) => IsUnbuildable(position) ? 0 : Trials(position).Count;

    /// <summary>Existing trials of a position (for baselines that reuse them).</summary>
    public List<TrialSeries> Trials(int position) =>
        _trials.TryGetValue(position, out var l) ? l : _trials[position] = new List<TrialSeries>();

    public TrialSeries Trial(int position, int index)
    {
        var rng = new Random(Mix(seed, position, index));
        var count = (int)scenario.WindowSeconds;
        var seconds = new double[count];
        var values = new double[count];
        var bad = IsBad(position);
        var offset = scenario.TrialNoise * StudentT3(rng);
        var later = scenario.LaterChanges?.Where(c => position >= c.Position).Sum(c => c.Step) ?? 0;
        for (var i = 0; i < count; i++)
        {
            var t = i + 1.0;
            var v = scenario.BaseLevel + offset + scenario.SampleNoise * StudentT3(rng);
            if (t < scenario.WarmupSeconds)
                v += 0.3 * scenario.BaseLevel * (1 - t / scenario.WarmupSeconds); // start-up allocations, later freed
            if (bad)
                v += scenario.LevelStep + scenario.SlopePerMinute * t / 60;
            v += later;
            seconds[i] = t;
            values[i] = Math.Max(PageBytes, Math.Round(v / PageBytes) * PageBytes);
        }
        return new TrialSeries(seconds, values);
    }

    /// <summary>Interquartile range of the Pinpoint-style scalar (the trial's mean after warm-up) of a good build,
    /// estimated from simulated trials; effects in the benchmark are multiples of it.</summary>
    public static double ScalarIqr(SimulationScenario scenario, int draws = 2000)
    {
        var sim = new MemorySimulator(scenario with { Culprit = null }, 12345);
        var scalars = Enumerable.Range(0, draws).Select(k => Features.Extract(sim.Trial(0, k), FeatureKind.Mean, scenario.WarmupSeconds)).ToArray();
        return Robust.InterquartileRange(scalars);
    }

    /// <summary>Stable across processes, unlike HashCode.Combine, which is randomised per process.</summary>
    internal static int Mix(int seed, int position, int index)
    {
        var h = (ulong)(uint)seed * 0x9E3779B97F4A7C15UL;
        h = (h ^ (uint)position) * 0xBF58476D1CE4E5B9UL;
        h = (h ^ (uint)index) * 0x94D049BB133111EBUL;
        h ^= h >> 31;
        return (int)(h & 0x7FFFFFFF);
    }

    internal static double StudentT3(Random rng)
    {
        var z = Gaussian(rng);
        var chi = 0.0;
        for (var i = 0; i < 3; i++) { var g = Gaussian(rng); chi += g * g; }
        return z / Math.Sqrt(chi / 3);
    }

    private static double Gaussian(Random rng)
    {
        var u1 = 1.0 - rng.NextDouble();
        var u2 = rng.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}
