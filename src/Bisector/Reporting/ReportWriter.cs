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

    /// <summary>Git text made inert in Markdown (see <see cref="MarkdownReport.Text"/>).</summary>
    public static string Md(string? s) => MarkdownReport.Text(s);
}

/// <summary>Formats a <see cref="ReportDocument"/> as one self-contained HTML page.</summary>
internal static class HtmlReport
{
    private static string H(string? s) => WebUtility.HtmlEncode(s ?? "");

    public static string Render(ReportDocument d)
    {
        var head = d.Headline;
        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
          .Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
          .Append($"<title>{H(head.Title)} — bisector run {H(d.RunId)}</title>\n")
          .Append("<style>").Append(Css).Append("</style>\n</head>\n")
          .Append("<body data-images-loaded=\"pending\">\n<main>\n");

        if (d.PartialNotice is { } partial)
            sb.Append($"<div class=\"banner partial\" id=\"partial\">{H(partial)}</div>\n");

        sb.Append($"<header class=\"headline {head.Kind.ToString().ToLowerInvariant()}\">\n<h1 id=\"headline\">{H(head.Title)}</h1>\n");
        if (head.Culprit is { } cul)
            sb.Append($"<p class=\"sha\"><code>{H(cul.Commit.Sha)}</code></p>\n");
        sb.Append("<ul>\n");
        foreach (var line in d.HeadlineLines)
            sb.Append($"<li>{Inline(line)}</li>\n");
        sb.Append("</ul>\n</header>\n");

        foreach (var section in d.Sections)
        {
            sb.Append($"<section id=\"{H(section.Id)}\"><h2>{H(section.Title)}</h2>\n");
            foreach (var block in section.Blocks)
                AppendBlock(sb, block);
            sb.Append("</section>\n");
        }

        sb.Append("<footer>\n");
        foreach (var line in d.Footer)
            sb.Append($"<p>{Inline(line)}</p>\n");
        sb.Append("</footer>\n</main>\n")
          // The browser test reads this attribute from the dumped DOM to prove every embedded plot decoded.
          .Append("<script>\nwindow.addEventListener('load', function () {\n")
          .Append("  var imgs = Array.prototype.slice.call(document.images);\n")
          .Append("  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;\n")
          .Append("  document.body.setAttribute('data-images-loaded', ok + '/' + imgs.length);\n});\n</script>\n")
          .Append("</body>\n</html>\n");
        return sb.ToString();
    }

    private static void AppendBlock(StringBuilder sb, Block block)
    {
        switch (block)
        {
            case FactTable t:
                sb.Append("<table class=\"facts\">\n");
                foreach (var (label, lines) in t.Facts)
                    sb.Append($"<tr><th>{H(label)}</th><td>{string.Join("<br>", lines.Select(Inline))}</td></tr>\n");
                sb.Append("</table>\n");
                break;
            case DataTable t:
                sb.Append(t.CssClass is null ? "<table>\n" : $"<table class=\"{H(t.CssClass)}\">\n").Append("<thead><tr>");
                foreach (var c in t.Columns)
                    sb.Append($"<th>{H(c.Title)}</th>");
                sb.Append("</tr></thead>\n<tbody>\n");
                foreach (var row in t.Rows)
                {
                    sb.Append(row.Side is { } side ? $"<tr class=\"{side.ToString().ToLowerInvariant()}\">" : "<tr>");
                    for (var i = 0; i < row.Cells.Count; i++)
                    {
                        var c = t.Columns[i];
                        var css = c.Numeric ? c.Small ? " class=\"num small\"" : " class=\"num\"" : "";
                        sb.Append($"<td{css}>{Inline(row.Cells[i])}</td>");
                    }
                    sb.Append("</tr>\n");
                }
                sb.Append("</tbody></table>\n");
                break;
            case Paragraph p:
                sb.Append(p.IsNote ? "<p class=\"note\">" : "<p>").Append(Inline(p.Text)).Append("</p>\n");
                break;
            case Preformatted p:
                if (p.Caption is not null)
                    sb.Append($"<p>{H(p.Caption)}</p>\n");
                sb.Append($"<pre class=\"{H(p.CssClass)}\">{H(p.Text)}</pre>\n");
                break;
            case Figures f:
                foreach (var p in f.Plots)
                    sb.Append($"<figure><img src=\"data:image/png;base64,{Convert.ToBase64String(p.Png)}\" ")
                      .Append($"alt=\"{H(p.Title)}\" width=\"{ReportPlots.Width}\" height=\"{ReportPlots.Height}\">")
                      .Append($"<figcaption><b>{H(p.Title)}.</b> {H(p.Caption)}</figcaption></figure>\n");
                break;
            case Folded f:
                sb.Append($"<details{(f.Open ? " open" : "")}><summary>{Inline(f.Summary)}</summary>")
                  .Append($"<pre class=\"log\">{H(f.Text)}</pre></details>\n");
                break;
            default:
                throw new InvalidOperationException($"no HTML for {block.GetType().Name}");
        }
    }

    private static string Inline(Line line) => string.Concat(line.Spans.Select(s => s.Tone switch
    {
        Tone.Code => $"<code>{H(s.Text)}</code>",
        Tone.Strong => $"<b>{H(s.Text)}</b>",
        Tone.Alert => $"<b class=\"alert\">{H(s.Text)}</b>",
        Tone.Note => $"<span class=\"note\">{H(s.Text)}</span>",
        Tone.Link => $"<a href=\"{H(s.Text)}\">{H(s.Text)}</a>",
        _ => H(s.Text),
    }));

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
internal static class MarkdownReport
{
    public static string Render(ReportDocument d)
    {
        var sb = new StringBuilder();
        if (d.PartialNotice is { } partial)
            sb.Append($"> **{Text(partial)}**\n\n");
        sb.Append($"# {Text(d.Headline.Title)}\n\n");
        if (d.Headline.Culprit is { } cul)
            sb.Append($"`{cul.Commit.Sha}`\n\n");
        foreach (var line in d.HeadlineLines)
            sb.Append($"- {Inline(line)}\n");

        foreach (var section in d.Sections)
        {
            sb.Append($"\n## {Text(section.Title)}\n");
            foreach (var block in section.Blocks)
                AppendBlock(sb, block);
        }

        sb.Append('\n').Append(string.Join("\n\n", d.Footer.Select(Inline))).Append('\n');
        return sb.ToString();
    }

    private static void AppendBlock(StringBuilder sb, Block block)
    {
        switch (block)
        {
            case FactTable t:
                sb.Append("\n| | |\n|---|---|\n");
                foreach (var (label, lines) in t.Facts)
                    sb.Append($"| {Text(label)} | {string.Join("<br>", lines.Select(Inline))} |\n");
                break;
            case DataTable t:
                sb.Append("\n| ").Append(string.Join(" | ", t.Columns.Select(c => Text(c.Title)))).Append(" |\n|")
                  .Append(string.Concat(t.Columns.Select(c => c.Numeric ? "---:|" : "---|"))).Append('\n');
                foreach (var row in t.Rows)
                    sb.Append("| ").Append(string.Join(" | ", row.Cells.Select(Inline))).Append(" |\n");
                break;
            case Paragraph p:
                sb.Append('\n').Append(p.IsNote ? $"*{Inline(p.Text)}*" : Inline(p.Text)).Append('\n');
                break;
            case Preformatted p:
                if (p.Caption is not null)
                    sb.Append('\n').Append(Text(p.Caption)).Append('\n');
                AppendFenced(sb, p.Text, p.Language);
                break;
            case Figures f:
                sb.Append('\n');
                foreach (var p in f.Plots)
                    sb.Append($"![{Text(p.Title)}]({p.FileName})\n\n*{Text(p.Caption)}*\n\n");
                break;
            case Folded f:
                sb.Append($"\n### {Inline(f.Summary)}\n");
                AppendFenced(sb, f.Text, "");
                break;
            default:
                throw new InvalidOperationException($"no Markdown for {block.GetType().Name}");
        }
    }

    private static void AppendFenced(StringBuilder sb, string text, string language)
    {
        var fence = Fence(text);
        sb.Append('\n').Append(fence).Append(language).Append('\n').Append(text.TrimEnd()).Append('\n').Append(fence).Append('\n');
    }

    private static string Inline(Line line) => string.Concat(line.Spans.Select(s => s.Tone switch
    {
        Tone.Code when IsPlainCode(s.Text) => $"`{s.Text}`",
        Tone.Strong or Tone.Alert => $"**{Text(s.Text)}**",
        Tone.Note => $"*{Text(s.Text)}*",
        Tone.Link => $"[{Text(s.Text)}]({Uri.EscapeDataString(s.Text)})",
        _ => Text(s.Text),
    }));

    // A code span cannot escape anything inside it, so only text that needs no escaping is set as code.
    private static bool IsPlainCode(string text) =>
        text.Length > 0 && text.All(c => c > ' ' && c != '`' && c != '|' && c != '<' && c != '>' && c != '&' || c == ' ');

    /// <summary>Git text made inert in Markdown: one line, HTML-significant characters as entities, Markdown
    /// punctuation backslash-escaped so a subject cannot open a link, a table cell or raw HTML.</summary>
    public static string Text(string? s)
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
