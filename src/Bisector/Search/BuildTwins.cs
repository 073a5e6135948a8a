namespace Bisector.Search;

/// <summary>
/// Which positions have identical builds (same fingerprint: code and data without debug info or build id), and how a
/// round's requests are answered for them: the first position built with a fingerprint is measured for every later one.
/// A position found identical just now is answered with its twin's trials and no new ones
/// (<see cref="PositionEvidence.SameBuildAs"/>); asked again, its trials run at the twin, so they land with the others.
/// Builds happen in the order the search asks for positions, and a resumed run asks again in the same order, so the same
/// position is measured after a resume. The Measurer and the simulated benchmark both route through this one class.
/// </summary>
internal sealed class BuildTwins
{
    private readonly Dictionary<string, int> _first = new(StringComparer.Ordinal);
    private readonly Dictionary<int, int> _measuredAt = [];

    /// <summary>What a round runs (merged per measured position, in request order) and which requested positions are
    /// answered by another's trials.</summary>
    public sealed record Routing(IReadOnlyList<MeasureRequest> Run, IReadOnlyDictionary<int, int> SameBuildAs)
    {
        /// <summary>Every request's evidence: its own, or its twin's marked as shared.</summary>
        public IReadOnlyList<PositionEvidence> Answer(IReadOnlyList<MeasureRequest> requests, Func<int, PositionEvidence> evidence) =>
            requests.Select(r => SameBuildAs.TryGetValue(r.Position, out var twin)
                ? evidence(twin) with { Position = r.Position, SameBuildAs = twin }
                : evidence(r.Position)).ToList();
    }

    /// <param name="built">The round's requests whose builds succeeded, with their fingerprints (null: compared with
    /// nothing, the position stands alone).</param>
    public Routing Route(IReadOnlyList<(MeasureRequest Request, string? Fingerprint)> built)
    {
        var run = new List<MeasureRequest>();
        var same = new Dictionary<int, int>();
        foreach (var (request, fingerprint) in built)
        {
            var known = _measuredAt.ContainsKey(request.Position);
            var twin = Place(request.Position, fingerprint);
            if (twin != request.Position)
            {
                same[request.Position] = twin;
                if (!known)
                    continue;
            }

            var at = run.FindIndex(r => r.Position == twin);
            if (at < 0)
                run.Add(new MeasureRequest(twin, request.AdditionalTrials));
            else
                run[at] = run[at] with { AdditionalTrials = run[at].AdditionalTrials + request.AdditionalTrials };
        }

        return new Routing(run, same);
    }

    /// <summary>The groups (two or more positions) that builds made in this order form, as the run routed them: the
    /// first position built with a fingerprint is the one measured. For a report or status read from stored builds.</summary>
    public static IReadOnlyList<BuildGroup> Groups(IEnumerable<(int Position, string? Fingerprint)> inBuildOrder)
    {
        var twins = new BuildTwins();
        foreach (var (position, fingerprint) in inBuildOrder)
            twins.Place(position, fingerprint);
        return twins._measuredAt.GroupBy(kv => kv.Value).Where(g => g.Count() > 1)
            .Select(g => new BuildGroup(g.Key, g.Select(kv => kv.Key).Order().ToArray()))
            .OrderBy(g => g.Positions[0]).ToArray();
    }

    private int Place(int position, string? fingerprint)
    {
        if (_measuredAt.TryGetValue(position, out var known))
            return known;
        var at = fingerprint is null || _first.TryAdd(fingerprint, position) ? position : _first[fingerprint];
        _measuredAt[position] = at;
        return at;
    }
}
