using Bisector.Storage;
using Bisector.Workers;
using static Bisector.Reporting.ReportFacts;

namespace Bisector.Reporting;

/// <summary>How a piece of text is set; each writer maps a tone to its own syntax (HTML tags, Markdown marks).</summary>
internal enum Tone
{
    Plain,
    Code,
    Strong,
    Alert,
    Note,

    /// <summary>A link to a file next to the report; the text is also the target.</summary>
    Link,
}

/// <summary>
/// A run of text in one tone. Git text (subjects, authors, shas, paths, logs, commands) is only ever carried here, never
/// as markup, and marked <see cref="Verbatim"/>: everything else is the tool's own text, written in the search's fixed
/// words and put into the run's words once, by the channel that shows it (<see cref="ReportDocument.Build"/> for the
/// report, <see cref="Line.Say"/> for the terminal and status).
/// </summary>
internal sealed record Span(string Text, Tone Tone = Tone.Plain, bool Verbatim = false)
{
    /// <summary>Text from git or the user (a subject, an author, a sha, a path, a command): shown as it is, never spoken.</summary>
    public static Span Git(string text, Tone tone = Tone.Plain) => new(text, tone, Verbatim: true);

    public Span Spoken(Terms terms) => Verbatim ? this : this with { Text = terms.Speak(Text) };
}

/// <summary>One line of inline text.</summary>
internal sealed record Line(IReadOnlyList<Span> Spans)
{
    public static implicit operator Line(string text) => new([new Span(text)]);

    public static implicit operator Line(Span span) => new([span]);

    public static Line operator +(Line a, Line b) => new([.. a.Spans, .. b.Spans]);

    /// <summary>A commit as every table shows it: its short sha as code, then its subject on one line; both verbatim.</summary>
    public static Line Commit(Git.Commit commit, int max = int.MaxValue) =>
        new([Span.Git(commit.ShortSha, Tone.Code), new Span(" "), Span.Git(OneLine(commit.Subject, max))]);

    public Line Spoken(Terms terms) => new(Spans.Select(s => s.Spoken(terms)).ToList());

    /// <summary>The text without its tones.</summary>
    public string Plain => string.Concat(Spans.Select(s => s.Text));

    /// <summary>What a plain-text channel (the terminal, status) prints: the line in the run's words, git text as it is.</summary>
    public string Say(Terms terms) => Spoken(terms).Plain;
}

internal abstract record Block;

/// <summary>Label/value rows (the run facts); a value may span several lines.</summary>
internal sealed record FactTable(IReadOnlyList<(string Label, IReadOnlyList<Line> Lines)> Facts) : Block;

internal sealed record Column(string Title, bool Numeric = false, bool Small = false);

/// <summary>A row of a data table; <see cref="Side"/> colours it where the format can.</summary>
internal sealed record Row(IReadOnlyList<Line> Cells, Side? Side = null);

internal sealed record DataTable(string? CssClass, IReadOnlyList<Column> Columns, IReadOnlyList<Row> Rows) : Block;

internal sealed record Paragraph(Line Text, bool IsNote = false) : Block;

/// <summary>Text set as a block (a command, a diagnosis), optionally under a caption. <see cref="Verbatim"/> text (a
/// command, a diff) is never put into the run's words; the caption always is.</summary>
internal sealed record Preformatted(string Text, string CssClass, string? Caption = null, string Language = "", bool Verbatim = false) : Block;

internal sealed record Figures(IReadOnlyList<ReportPlot> Plots) : Block;

/// <summary>Details a reader opens on demand (a skipped commit's build log, shown verbatim); <see cref="Open"/> when there are few.</summary>
internal sealed record Folded(Line Summary, string Text, bool Open) : Block;

internal sealed record Section(string Id, string Title, IReadOnlyList<Block> Blocks);

/// <summary>
/// The whole report as content: every fact, row and caption decided once from the <see cref="ReportModel"/>, so the
/// HTML and Markdown writers only format (DiscordChatExporter's one export context, one writer per format).
/// </summary>
internal sealed record ReportDocument(
    string? PartialNotice,
    Headline Headline,
    IReadOnlyList<Line> HeadlineLines,
    IReadOnlyList<Section> Sections,
    IReadOnlyList<Line> Footer,
    string RunId)
{
    public const string SamplesFileName = "samples.csv";

    /// <summary>The report of <paramref name="m"/>, in the run's words: composed in the search's fixed words, then every
    /// span that is not git text spoken here, once, so no section can forget it.</summary>
    public static ReportDocument Build(ReportModel m, IReadOnlyList<ReportPlot> plots) => Compose(m, plots).Spoken(m.Terms);

    private static ReportDocument Compose(ReportModel m, IReadOnlyList<ReportPlot> plots)
    {
        var head = ReportFacts.Headline(m);
        var lines = head.Lines.ToList();
        if (SearchSummary(m) is { Length: > 0 } summary)
            lines.Add("Search: " + summary);
        if (m.Revert is { } proof)
            lines.Add("Revert: " + proof.Headline);

        var sections = new List<Section> { new("run", "Run", RunFacts(m)) };
        if (!string.IsNullOrWhiteSpace(m.Diagnosis))
            // Spoken where it is described (Diagnoser.Describe): it carries the culprit's diff, which is git text.
            sections.Add(new Section("diagnosis", "Diagnosis", [new Preformatted(m.Diagnosis, "diagnosis", Verbatim: true)]));
        if (RevertSection.Build(m) is { } revert)
            sections.Add(revert);
        if (m.Experiments is { } experiments)
            sections.Add(new Section("experiments", "Diagnosis by experiment", [new Preformatted(experiments.Describe(), "diagnosis")]));
        if (ChangesSection.Build(m) is { } changes)
            sections.Add(changes);
        if (PlanSection.Build(m) is { } plan)
            sections.Add(plan);
        sections.Add(new Section("plots", "Plots", [new Figures(plots)]));
        sections.Add(new Section("evidence", "Evidence", EvidenceBlocks(m)));
        if (IdenticalBuildsSection.Build(m) is { } identical)
            sections.Add(identical);
        if (LinkedLibrariesSection.Build(m) is { } linked)
            sections.Add(linked);
        if (Skipped(m) is { } skipped)
            sections.Add(skipped);
        if (FailedTrialsSection(m) is { } failed)
            sections.Add(failed);

        return new ReportDocument(
            m.IsPartial ? "PARTIAL — this run was interrupted; the results below cover only what was measured before it stopped." : null,
            head,
            lines,
            sections,
            [
                new Line([new Span("Raw samples (one row per sample): "), new Span(SamplesFileName, Tone.Link, Verbatim: true)]),
                new Line([new Span($"Generated by bisector {m.Run.ToolVersion} for run "), Span.Git(m.Run.RunId, Tone.Code),
                    new Span(". Memory values are MiB (2^20 bytes).")]),
            ],
            m.Run.RunId);
    }

    /// <summary>Every text of the document that is not git text, put into the run's words.</summary>
    private ReportDocument Spoken(Terms terms)
    {
        if (terms.IsDefault)
            return this;
        Line L(Line line) => line.Spoken(terms);
        IReadOnlyList<Line> Ls(IReadOnlyList<Line> lines) => lines.Select(L).ToList();
        Block B(Block block) => block switch
        {
            FactTable t => new FactTable(t.Facts.Select(f => (terms.Speak(f.Label), Ls(f.Lines))).ToList()),
            DataTable t => t with
            {
                Columns = t.Columns.Select(c => c with { Title = terms.Speak(c.Title) }).ToList(),
                Rows = t.Rows.Select(r => r with { Cells = Ls(r.Cells) }).ToList(),
            },
            Paragraph p => p with { Text = L(p.Text) },
            Preformatted p => p with { Text = p.Verbatim ? p.Text : terms.Speak(p.Text), Caption = p.Caption is null ? null : terms.Speak(p.Caption) },
            // The plots speak as they are drawn (ReportPlots.Save): their titles and captions are inside the PNGs too.
            Figures f => f,
            Folded f => f with { Summary = L(f.Summary) },
            _ => throw new InvalidOperationException($"{block.GetType().Name} is not put into the run's words"),
        };
        return this with
        {
            PartialNotice = PartialNotice is null ? null : terms.Speak(PartialNotice),
            Headline = Headline with { Title = L(Headline.Title), Lines = Ls(Headline.Lines) },
            HeadlineLines = Ls(HeadlineLines),
            Sections = Sections.Select(s => s with { Title = terms.Speak(s.Title), Blocks = s.Blocks.Select(B).ToList() }).ToList(),
            Footer = Ls(Footer),
        };
    }

    private static IReadOnlyList<Block> RunFacts(ReportModel m)
    {
        var r = m.Run;
        var facts = new List<(string, IReadOnlyList<Line>)>
        {
            ("Range", [new Line([Span.Git(r.RangeSpec, Tone.Code), new Span($" — {m.Commits.Count(c => c.Position > 0)} candidate commits")])]),
            ("Pathspec", [r.Paths.Count == 0 ? "(whole tree)" : new Line(Joined(r.Paths.Select(p => Span.Git(p, Tone.Code)), " "))]),
            ("Recipe", [new Line([Span.Git(r.RecipeName), new Span(" — "), Span.Git(r.RecipeFile, Tone.Code), new Span(" (hash "),
                Span.Git(r.RecipeHash, Tone.Code), new Span(")")])]),
        };
        if (r.FixUps.Count > 0)
            facts.Add(("Fix-ups applied", r.FixUps.Select(f => (Line)Span.Git(f)).ToList()));
        if (!m.Terms.IsDefault)
            facts.Add(("Terms", [Span.Git(m.Terms.Describe(r.RangeSpec))]));
        facts.Add(("Decision", [$"{FeatureName(m)} ({m.Terms.DirectionText(m.Decision.Direction)}), smallest effect that counts {F(ScaleFeature(m, m.Decision.MinEffect))} {FeatureUnit(m)}"]));
        facts.Add(("Strategy", [$"{r.Strategy}, confidence target {Percent(r.ConfidenceTarget)}"]));
        facts.Add(("Workers", Workers(r)));
        facts.Add(("Time", [$"{Date(r.StartedAt)} → {(r.EndedAt is { } e ? Date(e) : "(not finished)")}, wall time {Duration(r.WallTime)}"]));
        facts.Add(("Status", [r.Status != RunStatus.Finished ? new Span("INTERRUPTED (partial)", Tone.Alert) : "finished"]));
        if (m.Outcome is { } o)
            facts.Add(("Trials", [$"{o.TrialsSpent} trials spent{(o.TrialCapHit ? " (trial cap hit)" : "")}"]));
        if (m.TrialLength is { } length)
            facts.Add(("Trial length", [length.Message]));
        facts.Add(("A/A calibration", [m.Calibration ?? "not run (bisector start --calibrate measures one build as both ends)"]));
        facts.Add(("Host", [Span.Git($"{r.Host.Name}: {r.Host.Os}, kernel {r.Host.Kernel}, {r.Host.Processors} CPUs, {F(r.Host.MemoryBytes / 1073741824.0, "0.0")} GiB RAM, {r.Host.Runtime}")]));
        return [new FactTable(facts), new Preformatted(r.ReproduceCommand, "cmd", "Reproduce:", "sh", Verbatim: true)];
    }

    private static List<Line> Workers(RunInfo r)
    {
        var lines = new List<Line> { Span.Git(string.Join(", ", r.Workers.Select(w => $"{w.Name} ({w.KindText} on {w.Host})"))) };
        if (r.Workers.Count(w => w.SharesMachine) > 1)
            lines.Add(new Span("Local workers share this machine's CPUs and memory bandwidth; their trials disturb each other, which widens the noise.", Tone.Note));
        else if (r.Workers.Any(w => w.SharesMachine))
            lines.Add(new Span("The local worker shares the machine with the controller.", Tone.Note));
        foreach (var gone in r.Workers.Where(w => w.RemovedBecause is not null))
            lines.Add(new Line([new Span("Removed from the pool:", Tone.Alert), new Span($" {gone.Name} — {gone.RemovedBecause}")]));
        return lines;
    }

    private static IReadOnlyList<Block> EvidenceBlocks(ReportModel m)
    {
        var fu = FeatureUnit(m);
        var rows = Evidence(m).Where(e => e.Listed).Select(e => new Row(
        [
            e.Report.Position.ToString(Inv),
            Line.Commit(e.Report.Commit, 80),
            Span.Git(OneLine(e.Report.Commit.Author, 40)),
            $"{e.TrialsOk}/{e.Report.Trials.Count}",
            F(e.Median),
            string.Join(", ", e.Values.Select(v => F(v))),
            e.IsCulprit ? new Span($"{e.Status} — {m.Terms.Answer}", Tone.Strong) : e.Status,
            e.PCell,
            e.EffectCell(m),
            e.Posterior is { } p ? Percent(p) : "—",
        ], e.Side)).ToList();

        Column[] columns =
        [
            new("#", Numeric: true), new("commit"), new("author"), new("trials ok/run", Numeric: true),
            new($"{FeatureName(m)} median ({fu})", Numeric: true), new("values", Numeric: true, Small: true), new(m.Terms.VersusOld),
            new("p", Numeric: true), new($"effect ({fu}) [CI]", Numeric: true), new($"P({m.Terms.Answer})", Numeric: true),
        ];
        var blocks = new List<Block> { new DataTable("evidence", columns, rows) };
        if (DecisionRule(m) is { } rule)
            blocks.Add(new Paragraph(rule, IsNote: true));
        return blocks;
    }

    private static Section? Skipped(ReportModel m)
    {
        var skipped = m.Commits.Where(c => c.Skipped).OrderBy(c => c.Position).ToList();
        if (skipped.Count == 0)
            return null;
        // A few failures are worth reading at once; a long list stays folded so the page remains scannable.
        return new Section("skipped", $"Skipped commits ({skipped.Count})", skipped.Select(c => (Block)new Folded(
            new Line([new Span($"{c.Position}: ")]) + Line.Commit(c.Commit, 80) + $" — build {c.Build}",
            (c.BuildLogTail ?? "(no build log)").TrimEnd(),
            Open: skipped.Count <= 3)).ToList());
    }

    private static Section? FailedTrialsSection(ReportModel m)
    {
        var failed = m.Commits.OrderBy(c => c.Position)
            .SelectMany(c => c.Trials.Where(t => t.Outcome != TrialOutcome.Ok).Select(t => (Commit: c, Trial: t))).ToList();
        if (failed.Count == 0)
            return null;
        Column[] columns =
        [
            new("#", Numeric: true), new("commit"), new("trial", Numeric: true), new("round", Numeric: true), new("worker"),
            new("host"), new("outcome"), new("reason"),
        ];
        var rows = failed.Select(f => new Row(
        [
            f.Commit.Position.ToString(Inv), Span.Git(f.Commit.Commit.ShortSha, Tone.Code), f.Trial.Index.ToString(Inv),
            f.Trial.Round.ToString(Inv), Span.Git(f.Trial.Worker), Span.Git(f.Trial.Host), f.Trial.Outcome.ToString(), f.Trial.Reason ?? "",
        ])).ToList();
        return new Section("failed", $"Failed trials ({failed.Count})", [new DataTable(null, columns, rows)]);
    }

    private static List<Span> Joined(IEnumerable<Span> spans, string separator)
    {
        var list = new List<Span>();
        foreach (var s in spans)
        {
            if (list.Count > 0)
                list.Add(new Span(separator));
            list.Add(s);
        }
        return list;
    }
}
