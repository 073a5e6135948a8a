using Bisector.Search;
using static Bisector.Reporting.ReportFacts;

namespace Bisector.Reporting;

/// <summary>
/// The report's "Identical builds" section and the one line the terminal and status print: which commits built to the
/// same code and data as another and so shared its trials (never measured on their own, never the culprit unless the
/// first of their group).
/// </summary>
internal static class IdenticalBuildsSection
{
    private const string HowCompared =
        "Builds are compared on code and data: ELF files as objcopy --strip-debug --remove-section=.note.gnu.build-id " +
        "--remove-section=.gnu_debuglink writes them, other files by content. A commit whose build equals one measured " +
        "before it gets that commit's trials instead of new ones; under one change identical builds are on the same side " +
        "of it, so no commit after the first of a group up to its last can be the culprit.";

    public static Section? Build(ReportModel m)
    {
        if (m.IdenticalBuilds.Count == 0)
            return null;
        Column[] columns = [new("measured at"), new("same build, answered by its trials"), new("trials ok", Numeric: true)];
        var rows = m.IdenticalBuilds.Select(g => new Row(
        [
            PositionedCommit(m, g.MeasuredAt),
            new Line(Joined(g.Positions.Where(p => p != g.MeasuredAt).Select(p => PositionedCommit(m, p)))),
            (m.At(g.MeasuredAt)?.OkTrials.Count() ?? 0).ToString(Inv),
        ])).ToList();
        return new Section("identical-builds", $"Identical builds ({Answered(m)} commit(s) shared a build's trials)",
            [new DataTable(null, columns, rows), new Paragraph(HowCompared, IsNote: true)]);
    }

    /// <summary>"Identical builds: …" for the terminal summary; null when there were none.</summary>
    public static string? Text(ReportModel m) => Text(m.IdenticalBuilds, p => PositionedSha(m, p));

    /// <summary>The one line the terminal and <c>bisector status</c> print, commits named by <paramref name="name"/>.</summary>
    public static string? Text(IReadOnlyList<BuildGroup> groups, Func<int, string> name) =>
        groups.Count == 0 ? null
            : $"Identical builds: {groups.Sum(g => g.Positions.Count - 1)} commit(s) built like one measured before them and shared its trials: " +
              string.Join("; ", groups.Select(g => $"{name(g.MeasuredAt)} = {string.Join(", ", g.Positions.Where(p => p != g.MeasuredAt).Select(name))}"));

    private static int Answered(ReportModel m) => m.IdenticalBuilds.Sum(g => g.Positions.Count - 1);

    private static List<Span> Joined(IEnumerable<Line> lines)
    {
        var spans = new List<Span>();
        foreach (var line in lines)
        {
            if (spans.Count > 0)
                spans.Add(new Span("; "));
            spans.AddRange(line.Spans);
        }
        return spans;
    }
}
