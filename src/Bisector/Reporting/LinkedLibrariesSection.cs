using Bisector.Building;
using static Bisector.Reporting.ReportFacts;

namespace Bisector.Reporting;

/// <summary>The shared libraries one commit's build links (<see cref="LinkedLibraries"/>), per deployed ELF file.</summary>
public sealed record PositionLinks(int Position, IReadOnlyList<LinkedFile> Files);

/// <summary>Between two measured builds next to each other in the range (<see cref="From"/> before, <see cref="At"/>
/// after, commits between them not built), what one deployed file started or stopped linking; a file only one of them
/// deployed has <see cref="Present"/> saying which. A file whose name changed only in its version numbers is one file:
/// <see cref="RenamedFrom"/> is its old name, and a library it links under a new version is in <see cref="Replaced"/>,
/// not in <see cref="Added"/> and <see cref="Removed"/>.</summary>
public sealed record LinkChange(int From, int At, string File, IReadOnlyList<string> Added, IReadOnlyList<string> Removed, bool? Present = null)
{
    public string? RenamedFrom { get; init; }

    public IReadOnlyList<LibraryRename> Replaced { get; init; } = [];

    /// <summary>Only version numbers changed, and only in the names of the build's own files: nothing was linked in or
    /// out (journald's libsystemd-shared-247.so → -248.so when the project's version moved).</summary>
    public bool VersionOnly => Added.Count == 0 && Removed.Count == 0 && Present is null && Replaced.All(r => r.Own);
}

/// <summary>A library linked under another version: <see cref="Own"/> when the build deploys it itself (a library of
/// the project, renamed with its version), otherwise one from the machine (libssl.so.1.1 → libssl.so.3).</summary>
public sealed record LibraryRename(string Old, string New, bool Own);

/// <summary>
/// The report's "Linked libraries" section and the terminal's line: which shared libraries the builds link, and where
/// along the range that changed. A build links the optional libraries its machine has: journald v247 built where
/// liblzma-dev was installed compressed its journal with xz, whose 4 MiB buffers passed through every build's heap and
/// hid half the regression (docs/case-journald.md, runs 19–21). A library that a build starts linking brings its own
/// allocations without a line of the daemon changing, so a change at the culprit is named beside the verdict.
/// </summary>
internal static partial class LinkedLibrariesSection
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
            var own = before.Files.Concat(after.Files).Select(f => Path.GetFileName(f.File)).ToHashSet(StringComparer.Ordinal);
            var oldNames = before.Files.Select(f => f.File).ToList();
            var newNames = after.Files.Select(f => f.File).ToList();
            // A file deployed under a new version number (libsystemd-shared-247.so → -248.so) is compared with its old self.
            var renamed = Pairs(oldNames.Except(newNames).ToList(), newNames.Except(oldNames).ToList());
            var renamedFrom = renamed.ToDictionary(r => r.Value, r => r.Key, StringComparer.Ordinal);
            foreach (var file in oldNames.Union(newNames).Where(f => !renamed.ContainsKey(f)).Order(StringComparer.Ordinal))
            {
                var from = renamedFrom.GetValueOrDefault(file);
                var old = before.Files.FirstOrDefault(f => f.File == (from ?? file))?.Needed;
                var now = after.Files.FirstOrDefault(f => f.File == file)?.Needed;
                if (old is null || now is null)
                {
                    changes.Add(new LinkChange(before.Position, after.Position, file, now ?? [], old ?? [], Present: now is not null));
                    continue;
                }

                var replaced = Pairs(old.Except(now).ToList(), now.Except(old).ToList());
                var added = now.Except(old).Except(replaced.Values).ToList();
                var removed = old.Except(now).Except(replaced.Keys).ToList();
                if (added.Count > 0 || removed.Count > 0 || replaced.Count > 0 || from is not null)
                    changes.Add(new LinkChange(before.Position, after.Position, file, added, removed)
                    {
                        RenamedFrom = from,
                        Replaced = replaced.Select(r => new LibraryRename(r.Key, r.Value, own.Contains(r.Value) && own.Contains(r.Key))).ToList(),
                    });
            }
        }

        return changes;
    }

    /// <summary>Old name → new name for names that differ only in their version numbers, where exactly one old and one
    /// new name share that form.</summary>
    private static Dictionary<string, string> Pairs(IReadOnlyList<string> gone, IReadOnlyList<string> come)
    {
        var pairs = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var group in gone.GroupBy(Unversioned, StringComparer.Ordinal))
        {
            var match = come.Where(n => Unversioned(n) == group.Key).ToList();
            if (group.Count() == 1 && match.Count == 1)
                pairs[group.Single()] = match[0];
        }
        return pairs;
    }

    /// <summary>The name with every version number (digits, and digits joined by dots) as one '#': libssl.so.1.1 and
    /// libssl.so.3 read libssl.so.#, libsystemd-shared-247.so reads libsystemd-shared-#.so.</summary>
    private static string Unversioned(string name) => VersionNumber().Replace(name, "#");

    [System.Text.RegularExpressions.GeneratedRegex(@"\d+(\.\d+)*")]
    private static partial System.Text.RegularExpressions.Regex VersionNumber();

    public static Section? Build(ReportModel m)
    {
        if (m.Links.Count == 0)
            return null;
        var changes = Changes(m.Links);
        var first = m.Links.OrderBy(l => l.Position).First();
        var blocks = new List<Block>();
        var linking = changes.Where(c => !c.VersionOnly).ToList();
        if (changes.Count == 0)
        {
            blocks.Add(new Paragraph(new Line([new Span($"Every build ({m.Links.Count} commit(s)) links the same shared libraries: ")]) + Listed(first)));
        }
        else
        {
            if (AtCulprit(m.Outcome?.Culprit, changes) is { } culprit)
                blocks.Add(new Paragraph(culprit));
            if (linking.Count == 0)
                blocks.Add(new Paragraph($"Every build ({m.Links.Count} commit(s)) links the same shared libraries; only version numbers in the names of the build's own files changed:"));
            Column[] columns = [new("commit"), new("since"), new("file"), new("now links"), new("no longer links")];
            var rows = changes.Select(c => new Row(
            [
                PositionedCommit(m, c.At),
                c.From == c.At - 1 ? "the commit before" : $"{c.From} (the commits between were not built)",
                new Line([Span.Git(c.File, Tone.Code), new Span(Presence(c))]),
                Names(c.Added.Concat(c.Replaced.Select(r => $"{r.New} (was {r.Old})")).ToList()),
                Names(c.Removed),
            ])).ToList();
            blocks.Add(new DataTable(null, columns, rows));
            blocks.Add(new Paragraph(new Line([new Span($"At {first.Position} ("), Span.Git(m.At(first.Position)?.Commit.ShortSha ?? "?"), new Span(") the build links: ")]) + Listed(first)));
        }

        blocks.Add(new Paragraph(HowRead, IsNote: true));
        var title = changes.Count == 0 ? "Linked libraries (the same in every build)"
            : linking.Count == 0 ? "Linked libraries (the same in every build; version numbers in file names changed)"
            : $"Linked libraries (changed at {linking.Select(c => c.At).Distinct().Count()} commit(s))";
        return new Section("linked-libraries", title, blocks);
    }

    /// <summary>"Linked libraries: …" for the terminal summary when a build links differently from the one before it;
    /// null when every build links the same.</summary>
    public static Line? Text(ReportModel m) =>
        Text(m.Links, m.Outcome?.Culprit, p => PositionedSha(m, p)) is { } text ? new Line([new Span("Linked libraries: ")]) + text : null;

    /// <summary>The changes in one line, commits named by <paramref name="name"/> (the terminal, <c>bisector status</c>),
    /// led by the sentence that ties one to <paramref name="culprit"/>; null when every build links the same (a change of
    /// version numbers in the build's own file names alone is left to the report).</summary>
    public static Line? Text(IReadOnlyList<PositionLinks> links, int? culprit, Func<int, string> name)
    {
        var changes = Changes(links);
        if (changes.All(c => c.VersionOnly))
            return null;
        var line = new Line([]);
        if (AtCulprit(culprit, changes) is { } lead)
            line += lead + new Line([new Span(" ")]);
        for (var i = 0; i < changes.Count; i++)
            line += new Line([new Span(i == 0 ? "" : "; "), Span.Git(name(changes[i].At)), new Span(" ")]) + Delta(changes[i]);
        return line;
    }

    /// <summary>The sentence that ties a change of linked libraries to the named culprit: between its good neighbour
    /// and it, the two builds verification measured (so both were built). Version numbers in the build's own file
    /// names do not count: nothing was linked in or out.</summary>
    private static Line? AtCulprit(int? culprit, IReadOnlyList<LinkChange> changes)
    {
        var here = changes.Where(c => c.From == culprit - 1 && c.At == culprit && !c.VersionOnly).ToList();
        if (here.Count == 0)
            return null;
        var line = new Line([new Span($"The culprit's build ({culprit}) links differently from the build before it (")]);
        for (var i = 0; i < here.Count; i++)
            line += new Line([new Span(i == 0 ? "" : "; ")]) + Delta(here[i]);
        return line + new Line([new Span("): a library linked in or out brings or takes its own allocations, whatever the commit's diff says.")]);
    }

    /// <summary>"file: +added, −removed, old → new" with the names verbatim.</summary>
    private static Line Delta(LinkChange c)
    {
        var spans = new List<Span> { Span.Git(c.File), new(": ") };
        var names = c.Added.Select(l => "+" + l).Concat(c.Removed.Select(l => "−" + l)).Concat(c.Replaced.Select(r => $"{r.Old} → {r.New}")).ToList();
        spans.Add(names.Count == 0 ? new Span("links the same libraries") : Span.Git(string.Join(", ", names)));
        spans.Add(new Span(Presence(c)));
        return new Line(spans);
    }

    private static string Presence(LinkChange c) => c.RenamedFrom is { } was ? $" (was {was})"
        : c.Present switch { true => " (new file)", false => " (no longer deployed)", null => "" };

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
