using Bisector.Building;
using static Bisector.Reporting.ReportFacts;

namespace Bisector.Reporting;

/// <summary>The shared libraries one commit's build links (<see cref="LinkedLibraries"/>), per deployed ELF file.</summary>
public sealed record PositionLinks(int Position, IReadOnlyList<LinkedFile> Files);

/// <summary>Between two measured builds next to each other in the range (<see cref="From"/> before, <see cref="At"/>
/// after, commits between them not built), what one deployed file started or stopped linking; a file only one of them
/// deployed has <see cref="Present"/> saying which.</summary>
public sealed record LinkChange(int From, int At, string File, IReadOnlyList<string> Added, IReadOnlyList<string> Removed, bool? Present = null);

/// <summary>
/// The report's "Linked libraries" section and the terminal's line: which shared libraries the builds link, and where
/// along the range that changed. A build links the optional libraries its machine has: journald v247 built where
/// liblzma-dev was installed compressed its journal with xz, whose 4 MiB buffers passed through every build's heap and
/// hid half the regression (docs/case-journald.md, runs 19–21). A library that a build starts linking brings its own
/// allocations without a line of the daemon changing, so a change at the culprit is named beside the verdict.
/// </summary>
internal static class LinkedLibrariesSection
{
    private const string HowRead =
        "Read from each deployed ELF file's dynamic section (readelf -d, its NEEDED entries) when the commit was built. " +
        "A recipe's configure step links the optional libraries the build machine has; 'bisector recipe check' lists them " +
        "before a run.";

    /// <summary>Each change between consecutive measured builds, in range order.</summary>
    public static IReadOnlyList<LinkChange> Changes(IReadOnlyList<PositionLinks> links)
    {
        var changes = new List<LinkChange>();
        var ordered = links.OrderBy(l => l.Position).ToList();
        for (var i = 1; i < ordered.Count; i++)
        {
            var (before, after) = (ordered[i - 1], ordered[i]);
            var files = before.Files.Select(f => f.File).Union(after.Files.Select(f => f.File)).Order(StringComparer.Ordinal);
            foreach (var file in files)
            {
                var old = before.Files.FirstOrDefault(f => f.File == file)?.Needed;
                var now = after.Files.FirstOrDefault(f => f.File == file)?.Needed;
                if (old is null || now is null)
                {
                    changes.Add(new LinkChange(before.Position, after.Position, file, now ?? [], old ?? [], Present: now is not null));
                    continue;
                }

                var added = now.Except(old).ToList();
                var removed = old.Except(now).ToList();
                if (added.Count > 0 || removed.Count > 0)
                    changes.Add(new LinkChange(before.Position, after.Position, file, added, removed));
            }
        }

        return changes;
    }

    public static Section? Build(ReportModel m)
    {
        if (m.Links.Count == 0)
            return null;
        var changes = Changes(m.Links);
        var first = m.Links.OrderBy(l => l.Position).First();
        var blocks = new List<Block>();
        if (changes.Count == 0)
        {
            blocks.Add(new Paragraph(new Line([new Span($"Every build ({m.Links.Count} commit(s)) links the same shared libraries: ")]) + Listed(first)));
        }
        else
        {
            if (AtCulprit(m.Outcome?.Culprit, changes) is { } culprit)
                blocks.Add(new Paragraph(culprit));
            Column[] columns = [new("commit"), new("since"), new("file"), new("now links"), new("no longer links")];
            var rows = changes.Select(c => new Row(
            [
                PositionedCommit(m, c.At),
                c.From == c.At - 1 ? "the commit before" : $"{c.From} (the commits between were not built)",
                new Line([Span.Git(c.File, Tone.Code), new Span(Presence(c))]),
                Names(c.Added),
                Names(c.Removed),
            ])).ToList();
            blocks.Add(new DataTable(null, columns, rows));
            blocks.Add(new Paragraph(new Line([new Span($"At {first.Position} ("), Span.Git(m.At(first.Position)?.Commit.ShortSha ?? "?"), new Span(") the build links: ")]) + Listed(first)));
        }

        blocks.Add(new Paragraph(HowRead, IsNote: true));
        var title = changes.Count == 0 ? "Linked libraries (the same in every build)"
            : $"Linked libraries (changed at {changes.Select(c => c.At).Distinct().Count()} commit(s))";
        return new Section("linked-libraries", title, blocks);
    }

    /// <summary>"Linked libraries: …" for the terminal summary when a build links differently from the one before it;
    /// null when every build links the same.</summary>
    public static Line? Text(ReportModel m) =>
        Text(m.Links, m.Outcome?.Culprit, p => PositionedSha(m, p)) is { } text ? new Line([new Span("Linked libraries: ")]) + text : null;

    /// <summary>The changes in one line, commits named by <paramref name="name"/> (the terminal, <c>bisector status</c>),
    /// led by the sentence that ties one to <paramref name="culprit"/>; null when every build links the same.</summary>
    public static Line? Text(IReadOnlyList<PositionLinks> links, int? culprit, Func<int, string> name)
    {
        var changes = Changes(links);
        if (changes.Count == 0)
            return null;
        var line = new Line([]);
        if (AtCulprit(culprit, changes) is { } lead)
            line += lead + new Line([new Span(" ")]);
        for (var i = 0; i < changes.Count; i++)
            line += new Line([new Span(i == 0 ? "" : "; "), Span.Git(name(changes[i].At)), new Span(" ")]) + Delta(changes[i]);
        return line;
    }

    /// <summary>The sentence that ties a change of linked libraries to the named culprit: between its good neighbour
    /// and it, the two builds verification measured (so both were built).</summary>
    private static Line? AtCulprit(int? culprit, IReadOnlyList<LinkChange> changes)
    {
        var here = changes.Where(c => c.From == culprit - 1 && c.At == culprit).ToList();
        if (here.Count == 0)
            return null;
        var line = new Line([new Span($"The culprit's build ({culprit}) links differently from the build before it (")]);
        for (var i = 0; i < here.Count; i++)
            line += new Line([new Span(i == 0 ? "" : "; ")]) + Delta(here[i]);
        return line + new Line([new Span("): a library linked in or out brings or takes its own allocations, whatever the commit's diff says.")]);
    }

    /// <summary>"file: +added, −removed" with the names verbatim.</summary>
    private static Line Delta(LinkChange c)
    {
        var spans = new List<Span> { Span.Git(c.File), new(": ") };
        var names = c.Added.Select(l => "+" + l).Concat(c.Removed.Select(l => "−" + l)).ToList();
        spans.Add(Span.Git(names.Count == 0 ? "no library" : string.Join(", ", names)));
        spans.Add(new Span(Presence(c)));
        return new Line(spans);
    }

    private static string Presence(LinkChange c) => c.Present switch { true => " (new file)", false => " (no longer deployed)", null => "" };

    private static Line Listed(PositionLinks links)
    {
        if (links.Files.Count == 0)
            return "no ELF file.";
        var spans = new List<Span>();
        foreach (var f in links.Files)
        {
            spans.Add(new Span(spans.Count == 0 ? "" : "; "));
            spans.Add(Span.Git(f.File, Tone.Code));
            spans.Add(new Span(": "));
            spans.Add(f.Needed.Count == 0 ? new Span("none (static)") : Span.Git(string.Join(", ", f.Needed)));
        }
        spans.Add(new Span("."));
        return new Line(spans);
    }

    private static Line Names(IReadOnlyList<string> names) => names.Count == 0 ? "—" : new Line([Span.Git(string.Join(", ", names))]);
}
