namespace Bisector.Search.Simulation;

/// <summary>
/// A simulated run's measurer with identical builds: positions with the same fingerprint share one position's trials,
/// routed as the real Measurer routes them (<see cref="BuildTwins"/>), so the benchmark and the tests count what sharing
/// saves without builds. <paramref name="fingerprintOf"/> gives each position's build fingerprint (null: unbuildable or
/// unknown, compared with nothing); with <paramref name="share"/> false every position is measured on its own.
/// </summary>
public sealed class SharedBuildsMeasurer(MeasureAsync inner, Func<int, string?> fingerprintOf, bool share = true)
{
    private readonly BuildTwins _twins = new();

    /// <summary>Trials the inner measurer was asked for, per position.</summary>
    public Dictionary<int, int> TrialsAt { get; } = [];

    public async Task<IReadOnlyList<PositionEvidence>> MeasureAsync(IReadOnlyList<MeasureRequest> requests, CancellationToken ct = default)
    {
        var routing = _twins.Route(requests.Select(r => (r, share ? fingerprintOf(r.Position) : null)).ToList());
        var ran = routing.Run.Count == 0 ? [] : await inner(routing.Run, ct).ConfigureAwait(false);
        foreach (var r in routing.Run)
            TrialsAt[r.Position] = TrialsAt.GetValueOrDefault(r.Position) + r.AdditionalTrials;
        var byPosition = ran.ToDictionary(e => e.Position);
        // A twin not measured this round answers with the trials it has (no new ones).
        var twins = routing.SameBuildAs.Values.Distinct().Where(p => !byPosition.ContainsKey(p)).Select(p => new MeasureRequest(p, 0)).ToList();
        if (twins.Count > 0)
        {
            foreach (var e in await inner(twins, ct).ConfigureAwait(false))
                byPosition[e.Position] = e;
        }
        return routing.Answer(requests, p => byPosition[p]);
    }
}
