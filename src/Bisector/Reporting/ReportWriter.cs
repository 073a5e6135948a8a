using System.Net;
using System.Text;
using static Bisector.Reporting.ReportFacts;

namespace Bisector.Reporting;

/// <summary>The files one report consists of.</summary>
public sealed record ReportFiles(string Html, string Markdown, IReadOnlyList<string> Images);

/// <summary>
/// Writes the report a person opens: <c>report.html</c> (self-contained: plots as data URIs, inline CSS, no network),
/// <c>report.md</c> (links the PNGs next to it) and the PNGs. The first screen answers "which commit, and why do we
/// believe it"; the rest is the evidence. Both files render one <see cref="ReportDocument"/>: what the report says is
/// decided there, once; the two writers below only format it.
/// </summary>
public static class ReportWriter
{
    public const string HtmlFileName = "report.html";
    public const string MarkdownFileName = "report.md";

    /// <summary>The raw samples the lead exports next to the report; linked, never embedded.</summary>
    public const string SamplesFileName = ReportDocument.SamplesFileName;

    public static async Task<ReportFiles> WriteAsync(ReportModel model, string outputDirectory, CancellationToken ct = default)
    {
        try
        {
            Directory.CreateDirectory(outputDirectory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException("--output", $"cannot create report directory '{outputDirectory}': {e.Message}",
                "Choose a writable directory");
        }

        // Plot rendering is CPU-bound; keep it off the caller's thread so a console progress display stays live.
        var plots = await Task.Run(() => ReportPlots.RenderAll(model), ct);
        var images = new List<string>();
        foreach (var p in plots)
        {
            var path = Path.Combine(outputDirectory, p.FileName);
            await File.WriteAllBytesAsync(path, p.Png, ct);
            images.Add(path);
        }

        var document = ReportDocument.Build(model, plots);
        var html = Path.Combine(outputDirectory, HtmlFileName);
        await File.WriteAllTextAsync(html, HtmlReport.Render(document), new UTF8Encoding(false), ct);
        var md = Path.Combine(outputDirectory, MarkdownFileName);
        await File.WriteAllTextAsync(md, MarkdownReport.Render(document), new UTF8Encoding(false), ct);
        return new ReportFiles(html, md, images);
    }

    /// <summary>Git text made inert in Markdown (see <see cref="MarkdownReport.Inert"/>).</summary>
    public static string Md(string? s) => MarkdownReport.Inert(s);
}

/// <summary>
/// One walk over a <see cref="ReportDocument"/> for every format: the order of the headline, sections, blocks, rows and
/// cells is decided here once; a format only says how each piece is set (DiscordChatExporter's one writer per format
/// over one context).
/// </summary>
internal abstract class DocumentFormat
{
    protected StringBuilder Out { get; } = new();

    public string Write(ReportDocument d)
    {
        Begin(d);
        foreach (var section in d.Sections)
        {
            SectionStart(section);
            foreach (var block in section.Blocks)
                Block(block);
            SectionEnd();
        }

        End(d);
        return Out.ToString();
    }

    private void Block(Block block)
    {
        switch (block)
        {
            case FactTable t:
                TableStart(null, [new Column(""), new Column("")], header: false);
                foreach (var (label, lines) in t.Facts)
                    FactRow(Text(label), string.Join("<br>", lines.Select(Inline)));
                TableEnd();
                break;
            case DataTable t:
                TableStart(t.CssClass, t.Columns, header: true);
                foreach (var row in t.Rows)
                    TableRow(t.Columns, row.Side, row.Cells.Select(Inline).ToList());
                TableEnd();
                break;
            case Paragraph p:
                Paragraph(Inline(p.Text), p.IsNote);
                break;
            case Preformatted p:
                Preformatted(p.Caption is null ? null : Text(p.Caption), p.Text, p.CssClass, p.Language);
                break;
            case Figures f:
                foreach (var plot in f.Plots)
                    Figure(plot);
                break;
            case Folded f:
                Folded(Inline(f.Summary), f.Text, f.Open);
                break;
            default:
                throw new InvalidOperationException($"no {GetType().Name} for {block.GetType().Name}");
        }
    }

    protected string Inline(Line line) => string.Concat(line.Spans.Select(Inline));

    /// <summary>Plain text made inert in this format.</summary>
    protected abstract string Text(string? text);

    protected abstract string Inline(Span span);

    protected abstract void Begin(ReportDocument d);

    protected abstract void SectionStart(Section section);

    protected virtual void SectionEnd()
    {
    }

    protected abstract void End(ReportDocument d);

    /// <summary>A table's start; a fact table has two columns and no header row.</summary>
    protected abstract void TableStart(string? cssClass, IReadOnlyList<Column> columns, bool header);

    protected abstract void FactRow(string label, string value);

    protected abstract void TableRow(IReadOnlyList<Column> columns, Side? side, IReadOnlyList<string> cells);

    protected virtual void TableEnd()
    {
    }

    protected abstract void Paragraph(string text, bool isNote);

    protected abstract void Preformatted(string? caption, string text, string cssClass, string language);

    protected abstract void Figure(ReportPlot plot);

    protected abstract void Folded(string summary, string text, bool open);
}

/// <summary>Formats a <see cref="ReportDocument"/> as one self-contained HTML page.</summary>
internal sealed class HtmlReport : DocumentFormat
{
    private bool _inBody;

    public static string Render(ReportDocument d) => new HtmlReport().Write(d);

    private static string H(string? s) => WebUtility.HtmlEncode(s ?? "");

    protected override string Text(string? text) => H(text);

    protected override string Inline(Span s) => s.Tone switch
    {
        Tone.Code => $"<code>{H(s.Text)}</code>",
        Tone.Strong => $"<b>{H(s.Text)}</b>",
        Tone.Alert => $"<b class=\"alert\">{H(s.Text)}</b>",
        Tone.Note => $"<span class=\"note\">{H(s.Text)}</span>",
        Tone.Link => $"<a href=\"{H(s.Text)}\">{H(s.Text)}</a>",
        _ => H(s.Text),
    };

    protected override void Begin(ReportDocument d)
    {
        var head = d.Headline;
        Out.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
           .Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
           .Append($"<title>{H(head.Title.Plain)} — bisector run {H(d.RunId)}</title>\n")
           .Append("<style>").Append(Css).Append("</style>\n</head>\n")
           .Append("<body data-images-loaded=\"pending\">\n<main>\n");

        if (d.PartialNotice is { } partial)
            Out.Append($"<div class=\"banner partial\" id=\"partial\">{H(partial)}</div>\n");

        Out.Append($"<header class=\"headline {head.Kind.ToString().ToLowerInvariant()}\">\n<h1 id=\"headline\">{H(head.Title.Plain)}</h1>\n");
        if (head.Culprit is { } cul)
            Out.Append($"<p class=\"sha\"><code>{H(cul.Commit.Sha)}</code></p>\n");
        Out.Append("<ul>\n");
        foreach (var line in d.HeadlineLines)
            Out.Append($"<li>{Inline(line)}</li>\n");
        Out.Append("</ul>\n</header>\n");
    }

    protected override void SectionStart(Section section) => Out.Append($"<section id=\"{H(section.Id)}\"><h2>{H(section.Title)}</h2>\n");

    protected override void SectionEnd() => Out.Append("</section>\n");

    protected override void End(ReportDocument d)
    {
        Out.Append("<footer>\n");
        foreach (var line in d.Footer)
            Out.Append($"<p>{Inline(line)}</p>\n");
        Out.Append("</footer>\n</main>\n")
           // The browser test reads this attribute from the dumped DOM to prove every embedded plot decoded.
           .Append("<script>\nwindow.addEventListener('load', function () {\n")
           .Append("  var imgs = Array.prototype.slice.call(document.images);\n")
           .Append("  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;\n")
           .Append("  document.body.setAttribute('data-images-loaded', ok + '/' + imgs.length);\n});\n</script>\n")
           .Append("</body>\n</html>\n");
    }

    protected override void TableStart(string? cssClass, IReadOnlyList<Column> columns, bool header)
    {
        if (!header)
        {
            Out.Append("<table class=\"facts\">\n");
            return;
        }

        Out.Append(cssClass is null ? "<table>\n" : $"<table class=\"{H(cssClass)}\">\n").Append("<thead><tr>");
        foreach (var c in columns)
            Out.Append($"<th>{H(c.Title)}</th>");
        Out.Append("</tr></thead>\n<tbody>\n");
        _inBody = true;
    }

    protected override void FactRow(string label, string value) => Out.Append($"<tr><th>{label}</th><td>{value}</td></tr>\n");

    protected override void TableRow(IReadOnlyList<Column> columns, Side? side, IReadOnlyList<string> cells)
    {
        Out.Append(side is { } s ? $"<tr class=\"{s.ToString().ToLowerInvariant()}\">" : "<tr>");
        for (var i = 0; i < cells.Count; i++)
        {
            var c = columns[i];
            var css = c.Numeric ? c.Small ? " class=\"num small\"" : " class=\"num\"" : "";
            Out.Append($"<td{css}>{cells[i]}</td>");
        }

        Out.Append("</tr>\n");
    }

    protected override void TableEnd()
    {
        Out.Append(_inBody ? "</tbody></table>\n" : "</table>\n");
        _inBody = false;
    }

    protected override void Paragraph(string text, bool isNote) => Out.Append(isNote ? "<p class=\"note\">" : "<p>").Append(text).Append("</p>\n");

    protected override void Preformatted(string? caption, string text, string cssClass, string language)
    {
        if (caption is not null)
            Out.Append($"<p>{caption}</p>\n");
        Out.Append($"<pre class=\"{H(cssClass)}\">{H(text)}</pre>\n");
    }

    protected override void Figure(ReportPlot p) =>
        Out.Append($"<figure><img src=\"data:image/png;base64,{Convert.ToBase64String(p.Png)}\" ")
           .Append($"alt=\"{H(p.Title)}\" width=\"{ReportPlots.Width}\" height=\"{ReportPlots.Height}\">")
           .Append($"<figcaption><b>{H(p.Title)}.</b> {H(p.Caption)}</figcaption></figure>\n");

    protected override void Folded(string summary, string text, bool open) =>
        Out.Append($"<details{(open ? " open" : "")}><summary>{summary}</summary>")
           .Append($"<pre class=\"log\">{H(text)}</pre></details>\n");

    private const string Css = """

        :root { --good: #2166ac; --bad: #b2182b; --culprit: #8b0000; --muted: #666; }
        * { box-sizing: border-box; }
        body { font-family: "DejaVu Sans", "Segoe UI", Helvetica, Arial, sans-serif; margin: 0; background: #f6f7f9; color: #1b1b1b; }
        main { max-width: 1280px; margin: 0 auto; padding: 16px 24px 48px; }
        h1 { font-size: 1.7em; margin: 0 0 6px; word-break: break-word; }
        h2 { border-bottom: 2px solid #ddd; padding-bottom: 4px; margin-top: 32px; }
        code, pre { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; }
        .banner { padding: 12px 16px; font-weight: bold; font-size: 1.2em; border-radius: 6px; margin-bottom: 12px; }
        .banner.partial { background: #fff3cd; border: 2px solid #d39e00; color: #6b4e00; }
        .headline { background: #fff; border-left: 10px solid var(--culprit); padding: 14px 20px; border-radius: 6px; box-shadow: 0 1px 3px rgba(0,0,0,.12); }
        .headline.range { border-left-color: #d95f02; }
        .headline.noregression { border-left-color: var(--good); }
        .headline.undecided, .headline.partial { border-left-color: #d39e00; }
        .headline ul { margin: 6px 0 0; padding-left: 20px; font-size: 1.05em; }
        .headline .sha { margin: 0; color: var(--muted); }
        table { border-collapse: collapse; background: #fff; width: 100%; }
        th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
        table.facts th { width: 160px; background: #f0f2f5; }
        thead th { background: #f0f2f5; }
        td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
        td.small { font-size: .85em; white-space: normal; min-width: 150px; }
        tr.good td:first-child { border-left: 6px solid var(--good); }
        tr.bad td:first-child { border-left: 6px solid var(--bad); }
        tr.culprit { background: #fde0dd; font-weight: bold; }
        tr.culprit td:first-child { border-left: 6px solid var(--culprit); }
        tr.unclear td:first-child { border-left: 6px solid #999; }
        .alert { color: var(--bad); }
        .note { color: var(--muted); font-size: .9em; }
        pre.cmd, pre.log, pre.diagnosis { background: #1e1e1e; color: #eee; padding: 8px 12px; border-radius: 4px; overflow-x: auto; white-space: pre-wrap; margin: 0; }
        figure { margin: 16px 0; background: #fff; padding: 8px; border-radius: 6px; box-shadow: 0 1px 3px rgba(0,0,0,.12); }
        figure img { max-width: 100%; height: auto; display: block; }
        figcaption { color: var(--muted); margin-top: 4px; }
        details { margin: 6px 0; background: #fff; padding: 6px 10px; border-radius: 4px; }
        footer { margin-top: 32px; color: var(--muted); }

        """;
}

/// <summary>Formats a <see cref="ReportDocument"/> as GitHub-flavoured Markdown that links the PNGs next to it.</summary>
internal sealed class MarkdownReport : DocumentFormat
{
    public static string Render(ReportDocument d) => new MarkdownReport().Write(d);

    protected override string Text(string? text) => Inert(text);

    protected override string Inline(Span s) => s.Tone switch
    {
        Tone.Code when IsPlainCode(s.Text) => $"`{s.Text}`",
        Tone.Strong or Tone.Alert => $"**{Inert(s.Text)}**",
        Tone.Note => $"*{Inert(s.Text)}*",
        Tone.Link => $"[{Inert(s.Text)}]({Uri.EscapeDataString(s.Text)})",
        _ => Inert(s.Text),
    };

    protected override void Begin(ReportDocument d)
    {
        if (d.PartialNotice is { } partial)
            Out.Append($"> **{Inert(partial)}**\n\n");
        Out.Append($"# {Inert(d.Headline.Title.Plain)}\n\n");
        if (d.Headline.Culprit is { } cul)
            Out.Append($"`{cul.Commit.Sha}`\n\n");
        foreach (var line in d.HeadlineLines)
            Out.Append($"- {Inline(line)}\n");
    }

    protected override void SectionStart(Section section) => Out.Append($"\n## {Inert(section.Title)}\n");

    protected override void End(ReportDocument d) => Out.Append('\n').Append(string.Join("\n\n", d.Footer.Select(Inline))).Append('\n');

    protected override void TableStart(string? cssClass, IReadOnlyList<Column> columns, bool header) =>
        Out.Append("\n| ").Append(string.Join(" | ", columns.Select(c => Inert(c.Title)))).Append(" |\n|")
           .Append(string.Concat(columns.Select(c => c.Numeric ? "---:|" : "---|"))).Append('\n');

    protected override void FactRow(string label, string value) => Out.Append($"| {label} | {value} |\n");

    protected override void TableRow(IReadOnlyList<Column> columns, Side? side, IReadOnlyList<string> cells) =>
        Out.Append("| ").Append(string.Join(" | ", cells)).Append(" |\n");

    protected override void Paragraph(string text, bool isNote) => Out.Append('\n').Append(isNote ? $"*{text}*" : text).Append('\n');

    protected override void Preformatted(string? caption, string text, string cssClass, string language)
    {
        if (caption is not null)
            Out.Append('\n').Append(caption).Append('\n');
        AppendFenced(text, language);
    }

    protected override void Figure(ReportPlot p) => Out.Append($"\n![{Inert(p.Title)}]({p.FileName})\n\n*{Inert(p.Caption)}*\n");

    protected override void Folded(string summary, string text, bool open)
    {
        Out.Append($"\n### {summary}\n");
        AppendFenced(text, "");
    }

    private void AppendFenced(string text, string language)
    {
        var fence = Fence(text);
        Out.Append('\n').Append(fence).Append(language).Append('\n').Append(text.TrimEnd()).Append('\n').Append(fence).Append('\n');
    }

    // A code span cannot escape anything inside it, so only text that needs no escaping is set as code.
    private static bool IsPlainCode(string text) =>
        text.Length > 0 && text.All(c => c > ' ' && c != '`' && c != '|' && c != '<' && c != '>' && c != '&' || c == ' ');

    /// <summary>Git text made inert in Markdown: one line, HTML-significant characters as entities, Markdown
    /// punctuation backslash-escaped so a subject cannot open a link, a table cell or raw HTML.</summary>
    public static string Inert(string? s)
    {
        var sb = new StringBuilder();
        // Control characters (a newline in a subject) become spaces so text stays on its line; spaces between spans stay.
        foreach (var ch in (s ?? "").Select(c => char.IsControl(c) ? ' ' : c))
        {
            switch (ch)
            {
                case '<': sb.Append("&lt;"); break;
                case '>': sb.Append("&gt;"); break;
                case '&': sb.Append("&amp;"); break;
                case '\\' or '`' or '*' or '_' or '[' or ']' or '|' or '~':
                    sb.Append('\\').Append(ch);
                    break;
                default: sb.Append(ch); break;
            }
        }

        return sb.ToString();
    }

    private static string Fence(string content)
    {
        var longest = 0;
        var run = 0;
        foreach (var ch in content)
        {
            run = ch == '`' ? run + 1 : 0;
            longest = Math.Max(longest, run);
        }

        return new string('`', Math.Max(3, longest + 1));
    }

}
