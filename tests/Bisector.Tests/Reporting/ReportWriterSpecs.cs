using System.Net;
using System.Text.RegularExpressions;
using Bisector.Reporting;
using Bisector.Search;
using Bisector.Statistics;
using SkiaSharp;

namespace Bisector.Tests.Reporting;

public sealed class ReportWriterSpecs : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "bisector-report-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir) && Environment.GetEnvironmentVariable("BISECTOR_KEEP_REPORTS") is null)
            Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task I_can_read_the_per_search_alpha_and_a_drifting_good_end_in_the_report_and_the_terminal()
    {
        // Arrange: the good end's trials climb with the order they ran (a loaded machine warming up).
        var synthetic = SyntheticRun.Build();
        var drifting = Enumerable.Range(0, 12).Select(i => 10.0 + i).ToArray();
        var outcome = synthetic.Outcome! with
        {
            ErrorControl = new ErrorControl(0.01, 0.0025, 3.7e13, true),
            GoodEndDrift = Bisector.Statistics.DriftCheck.Test(drifting),
        };
        var model = synthetic with { Outcome = outcome };
        var terminal = new StringWriter();

        // Act
        var files = await ReportWriter.WriteAsync(model, _dir);
        TerminalSummary.WritePlain(model, terminal);

        // Assert
        var md = await File.ReadAllTextAsync(files.Markdown);
        var html = await File.ReadAllTextAsync(files.Html);
        foreach (var text in new[] { md, WebUtility.HtmlDecode(html), terminal.ToString() })
        {
            Assert.Contains("Error control: α = 0.01 per search", text);
            Assert.Contains("e-value 3.7 × 10^13", text);
            Assert.Contains("Drift: WARNING — the good end's trials drift in time (DRIFT over 12 trials", text);
        }
    }

    [Fact]
    public void I_can_read_that_the_good_end_did_not_drift_and_nothing_for_an_outcome_stored_before_error_control()
    {
        // Arrange
        var synthetic = SyntheticRun.Build();
        var steady = new[] { 10.0, 12, 9, 11, 10.5, 9.5, 11.5, 10.2 };
        var withChecks = synthetic with { Outcome = synthetic.Outcome! with { GoodEndDrift = Bisector.Statistics.DriftCheck.Test(steady) } };
        var (now, before) = (new StringWriter(), new StringWriter());

        // Act
        TerminalSummary.WritePlain(withChecks, now);
        TerminalSummary.WritePlain(synthetic, before);

        // Assert
        Assert.Contains("Drift of the good end: no drift over 8 trials in time order", now.ToString());
        Assert.DoesNotContain("Error control:", before.ToString());
        Assert.DoesNotContain("Drift", before.ToString());
    }

    [Fact]
    public async Task I_can_write_a_report_with_html_markdown_and_five_plots()
    {
        // Arrange
        var model = SyntheticRun.Build();
        var culprit = model.At(SyntheticRun.Culprit)!.Commit;

        // Act
        var files = await ReportWriter.WriteAsync(model, _dir);

        // Assert
        Assert.True(File.Exists(files.Html));
        Assert.True(File.Exists(files.Markdown));
        Assert.Equal(5, files.Images.Count);
        foreach (var png in files.Images)
        {
            using var bitmap = SKBitmap.Decode(png);
            Assert.NotNull(bitmap);
            Assert.Equal((ReportPlots.Width, ReportPlots.Height), (bitmap.Width, bitmap.Height));
            // A blank or single-colour canvas would mean nothing was drawn.
            Assert.True(DistinctColours(bitmap) > 50, $"{png} looks empty");
        }

        var html = await File.ReadAllTextAsync(files.Html);
        Assert.Contains($"Culprit: {culprit.ShortSha} {culprit.Subject}", html);
        Assert.Contains("samples.csv", html);
        Assert.Equal(5, Regex.Matches(html, "<img src=\"data:image/png;base64,").Count);
        var md = await File.ReadAllTextAsync(files.Markdown);
        Assert.Contains($"Culprit: {culprit.ShortSha}", md);
        foreach (var png in files.Images)
            Assert.Contains($"]({Path.GetFileName(png)})", md);
        // How "vs good" was decided, with the run's α (0.1 here) and min-effect (0.5 MiB/min): "Same" at α/4 one-sided
        foreach (var text in new[] { html, md })
        {
            Assert.Contains("a shift of at least 0.25 MiB/min (half the min-effect of 0.50 MiB/min)", text);
            Assert.Contains("one-sided 97.5 % bound is below the min-effect", text);
        }
    }

    [Fact]
    public async Task I_can_open_the_report_offline_because_it_references_no_network_resource()
    {
        // Arrange
        var model = SyntheticRun.Build();

        // Act
        var files = await ReportWriter.WriteAsync(model, _dir);

        // Assert
        var html = await File.ReadAllTextAsync(files.Html);
        Assert.DoesNotMatch(new Regex("(src|href)\\s*=\\s*[\"']?\\s*(https?:)?//", RegexOptions.IgnoreCase), html);
        Assert.DoesNotContain("<link", html);
        Assert.DoesNotContain("@import", html);
    }

    [Fact]
    public async Task I_can_trust_that_hostile_git_text_is_escaped()
    {
        // Arrange
        var model = SyntheticRun.Build();

        // Act
        var files = await ReportWriter.WriteAsync(model, _dir);

        // Assert
        var html = await File.ReadAllTextAsync(files.Html);
        // The report's own load counter is the only script; the subject, author and build log carry theirs inert.
        Assert.Single(Regex.Matches(html, "<script", RegexOptions.IgnoreCase));
        Assert.DoesNotContain("<img src=x", html);
        Assert.Contains("&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;", html);
        Assert.Contains("&lt;/pre&gt;&lt;script&gt;alert(2)", html);
        var md = await File.ReadAllTextAsync(files.Markdown);
        // Inside fenced code blocks Markdown renders text verbatim, so only the prose outside them must be clean.
        var prose = Regex.Replace(md, @"(`{3,})[^\n]*\n[\s\S]*?\n\1\n", "");
        Assert.Contains("</pre><script>alert(2)", md);
        Assert.DoesNotContain("<script", prose, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<img", prose, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("](http://evil", md);
        // A newline in a subject must not break the evidence table row.
        var row = md.Split('\n').Single(l => l.StartsWith($"| {SyntheticRun.Hostile} |", StringComparison.Ordinal));
        Assert.Equal(11, Regex.Matches(row, @"(?<!\\)\|").Count);
    }

    [Fact]
    public async Task I_can_read_the_same_run_facts_and_evidence_rows_in_html_and_markdown()
    {
        // Arrange
        var model = SyntheticRun.Build();

        // Act
        var files = await ReportWriter.WriteAsync(model, _dir);

        // Assert: one document, two formats: the same fact labels and the same evidence cells, in the same order.
        var html = await File.ReadAllTextAsync(files.Html);
        var md = await File.ReadAllTextAsync(files.Markdown);
        var facts = Regex.Match(html, "<table class=\"facts\">(.*?)</table>", RegexOptions.Singleline).Groups[1].Value;
        var htmlLabels = Regex.Matches(facts, "<tr><th>(.*?)</th>").Select(m => WebUtility.HtmlDecode(m.Groups[1].Value)).ToList();
        var mdRun = md[md.IndexOf("## Run", StringComparison.Ordinal)..md.IndexOf("Reproduce:", StringComparison.Ordinal)];
        var mdLabels = Regex.Matches(mdRun, @"^\| ([^|]+?) \|", RegexOptions.Multiline).Select(m => m.Groups[1].Value).ToList();
        Assert.Contains("Workers", htmlLabels);
        Assert.Contains("Host", htmlLabels);
        Assert.Equal(htmlLabels, mdLabels);

        var evidence = Regex.Match(html, "<table class=\"evidence\">.*?<tbody>(.*?)</tbody>", RegexOptions.Singleline).Groups[1].Value;
        var htmlRows = Regex.Matches(evidence, "<tr[^>]*>(.*?)</tr>").Select(r => Regex.Matches(r.Groups[1].Value, "<td[^>]*>(.*?)</td>")
            .Select(c => WebUtility.HtmlDecode(Regex.Replace(c.Groups[1].Value, "<[^>]+>", ""))).ToList()).ToList();
        var mdEvidence = md[md.IndexOf("## Evidence", StringComparison.Ordinal)..md.IndexOf("## Skipped", StringComparison.Ordinal)];
        var mdRows = mdEvidence.Split('\n').Where(l => Regex.IsMatch(l, @"^\| \d+ \|"))
            .Select(l => Regex.Split(l.Trim('|', ' '), @"(?<!\\)\|").Select(c => WebUtility.HtmlDecode(
                Regex.Replace(c.Trim().Replace("**", "").Replace("`", ""), @"\\(.)", "$1"))).ToList()).ToList();
        Assert.Equal(model.Commits.Count(c => c.Trials.Count > 0 || c.Skipped || c.Position == 0), htmlRows.Count);
        Assert.Equal(htmlRows.Count, mdRows.Count);
        for (var i = 0; i < htmlRows.Count; i++)
            Assert.Equal(htmlRows[i], mdRows[i]);
        Assert.Contains(htmlRows, r => Regex.IsMatch(r[6], @"^bad side \((\d+\.\d|> 99\.9)%\)(; test: Regressed)? — culprit$"));
    }

    [Fact]
    public async Task I_can_see_an_interrupted_run_marked_partial()
    {
        // Arrange
        var model = SyntheticRun.Build(interrupted: true);

        // Act
        var files = await ReportWriter.WriteAsync(model, _dir);

        // Assert
        var html = await File.ReadAllTextAsync(files.Html);
        Assert.Contains("id=\"partial\"", html);
        Assert.Contains("<h1 id=\"headline\">PARTIAL RESULT", html);
        Assert.Contains("INTERRUPTED", html);
        Assert.StartsWith("> **PARTIAL", await File.ReadAllTextAsync(files.Markdown));
        Assert.Equal(5, files.Images.Count);
    }

    [Theory]
    [InlineData(SearchStatus.Undecided, "UNDECIDED")]
    [InlineData(SearchStatus.NoRegression, "NO REGRESSION FOUND")]
    [InlineData(SearchStatus.FoundRange, "Culprit range:")]
    public async Task I_can_see_a_run_without_a_single_culprit_stated_prominently(SearchStatus status, string expected)
    {
        // Arrange
        var model = SyntheticRun.Build(status);

        // Act
        var files = await ReportWriter.WriteAsync(model, _dir);

        // Assert
        var html = await File.ReadAllTextAsync(files.Html);
        Assert.Contains($"<h1 id=\"headline\">{expected}", html);
        Assert.DoesNotContain("<h1 id=\"headline\">Culprit: ", html);
        // The evidence behind the statement is right under it.
        Assert.Matches("<li>Test: permutation test, p = [0-9.<]", html);
    }

    [Fact]
    public async Task I_can_read_a_no_regression_verdict_as_no_change_of_the_size_that_counts()
    {
        // Arrange: "no regression" is a change below min-effect, which may still be a significant one (journald, under load:
        // +0.11 MiB/min, p = 0.0007, against a 0.195 MiB/min threshold)
        var model = SyntheticRun.Build(SearchStatus.NoRegression);

        // Act
        var files = await ReportWriter.WriteAsync(model, _dir);

        // Assert
        var md = await File.ReadAllTextAsync(files.Markdown);
        Assert.Contains("The bad end is not worse than the good anchor by the smallest effect that counts (", md);
        Assert.DoesNotContain("does not differ", md);
    }

    [Theory]
    [InlineData(0.008, 0.02, true)]
    [InlineData(0.2, -0.02, false)]
    public async Task I_can_read_the_change_below_the_min_effect_under_a_no_regression_verdict(double p, double low, bool stated)
    {
        // Arrange: journald on a reset machine: no change of 0.20 MiB/min, but the bad end's exact test against the good
        // anchor still shows +0.07 MiB/min [0.02, 0.12] at p = 0.008; with p = 0.2 and an interval through 0 there is none
        const double MiB = 1024 * 1024;
        var model = SyntheticRun.Build(SearchStatus.NoRegression);
        var end = model.At(model.LastPosition)!;
        var small = new Comparison(Verdict.Same, "Mann-Whitney U (exact)", p, 0.01, 0.07 * MiB, low * MiB, 0.12 * MiB, 0.98,
            model.Decision.MinEffect, [0.0], [0.07 * MiB], "Same");
        model = model with { Commits = [.. model.Commits.Select(c => c == end ? c with { VersusGood = small } : c)] };

        // Act
        var files = await ReportWriter.WriteAsync(model, _dir);

        // Assert
        var md = await File.ReadAllTextAsync(files.Markdown);
        if (stated)
        {
            Assert.Contains("A change below the min-effect is there: the bad end against the good anchor +0.07 MiB/min", md);
            Assert.Contains("set decide.min-effect to at most 0.07 MiB/min", md);
        }
        else
        {
            Assert.DoesNotContain("A change below the min-effect", md);
        }
    }

    [Fact]
    public async Task I_can_read_no_culprit_probability_beside_a_no_regression_verdict()
    {
        // Arrange: the search's posterior is conditional on a change existing; the journald report printed
        // "P(culprit) 100.0 %" for 2ac67221bb next to NO REGRESSION FOUND
        var model = SyntheticRun.Build(SearchStatus.NoRegression);
        Assert.Contains(model.Outcome!.Posterior, p => p > 0.5);

        // Act
        var evidence = ReportFacts.Evidence(model);
        var files = await ReportWriter.WriteAsync(model, _dir);

        // Assert
        Assert.All(evidence, e => Assert.Null(e.Posterior));
        var md = await File.ReadAllTextAsync(files.Markdown);
        Assert.DoesNotContain("100.0%", md);
    }

    [Fact]
    public async Task I_can_tell_good_bad_and_culprit_apart_by_colour()
    {
        // Arrange
        var found = SyntheticRun.Build();
        var partial = SyntheticRun.Build(interrupted: true);

        // Act
        var foundFiles = await ReportWriter.WriteAsync(found, Path.Combine(_dir, "found"));
        var partialFiles = await ReportWriter.WriteAsync(partial, Path.Combine(_dir, "partial"));

        // Assert: the culprit's dark red appears only when a culprit was named; blues and reds appear in both.
        var f = ColourCounts(foundFiles.Images.Single(p => p.EndsWith("memory-over-time.png", StringComparison.Ordinal)));
        var p = ColourCounts(partialFiles.Images.Single(p => p.EndsWith("memory-over-time.png", StringComparison.Ordinal)));
        Assert.True(f.Culprit > 500, $"culprit pixels: {f.Culprit}");
        Assert.Equal(0, p.Culprit);
        Assert.True(f.Blue > 500 && p.Blue > 500, $"blue pixels: {f.Blue}, {p.Blue}");
        Assert.True(f.Red > 500 && p.Red > 500, $"red pixels: {f.Red}, {p.Red}");
    }

    private static (int Culprit, int Blue, int Red) ColourCounts(string png)
    {
        using var bitmap = SKBitmap.Decode(png);
        int culprit = 0, blue = 0, red = 0;
        for (var y = 0; y < bitmap.Height; y++)
            for (var x = 0; x < bitmap.Width; x++)
            {
                var c = bitmap.GetPixel(x, y);
                if (c.Red == 0x8b && c.Green == 0 && c.Blue == 0)
                    culprit++;
                else if (c.Blue > c.Red + 60)
                    blue++;
                else if (c.Red > c.Blue + 60 && c.Red > c.Green + 60)
                    red++;
            }

        return (culprit, blue, red);
    }

    [Fact]
    public void I_can_measure_the_rate_of_change_of_a_linear_series()
    {
        // Arrange: 3 MiB per minute, sampled every 2 s.
        var seconds = Enumerable.Range(0, 200).Select(i => i * 2.0).ToList();
        var bytesPerSecond = 3.0 * 1024 * 1024 / 60;
        var series = new Bisector.Statistics.TrialSeries(seconds, seconds.Select(s => 17e6 + bytesPerSecond * s).ToList());

        // Act
        var rate = ReportPlots.SmoothedRatePerMinute(series);

        // Assert
        Assert.All(rate, r => Assert.Equal(3.0 * 1024 * 1024, r, 1e-3 * 1024 * 1024));
    }

    private static int DistinctColours(SKBitmap bitmap)
    {
        var seen = new HashSet<uint>();
        for (var y = 0; y < bitmap.Height; y += 3)
            for (var x = 0; x < bitmap.Width; x += 3)
                seen.Add((uint)bitmap.GetPixel(x, y));
        return seen.Count;
    }
}
