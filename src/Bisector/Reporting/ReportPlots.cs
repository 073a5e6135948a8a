using Bisector.Sampling;
using Bisector.Statistics;
using ScottPlot;

namespace Bisector.Reporting;

/// <summary>One rendered plot: the PNG file name inside the report directory and what the reader should see in it.</summary>
public sealed record ReportPlot(string FileName, string Title, string Caption, byte[] Png);

/// <summary>
/// Renders the report's plots with ScottPlot. Colours carry the story: good commits in blues, bad in reds, the
/// culprit in a thick dark red, unclear commits grey. Every plot is stamped with the run id and tool version so a
/// PNG pasted into a bug tracker still says where it came from.
/// </summary>
internal static class ReportPlots
{
    public const int Width = 1200;
    public const int Height = 600;

    private static readonly Color CulpritColor = Color.FromHex("#8b0000");
    private static readonly Color UnclearColor = Color.FromHex("#888888");

    public static IReadOnlyList<ReportPlot> RenderAll(ReportModel m) =>
    [
        MemoryOverTime(m),
        .. HeapOverTime(m) is { } heap ? new[] { heap } : [],
        FeatureByCommit(m),
        RateOfChange(m),
        PosteriorPlot(m),
        SearchPath(m),
    ];

    /// <summary>Heap in use vs free inside the arena for the last good commit and the culprit (heap counters only):
    /// a leak raises in-use, fragmentation raises free while in-use stays flat.</summary>
    public static ReportPlot? HeapOverTime(ReportModel m)
    {
        var (good, culprit) = ReportFacts.Boundary(m);
        if (good is null || culprit is null
            || !new[] { good, culprit }.All(c => c.OkTrials.Any(t => t.Series.ContainsKey(Metrics.HeapInUse))))
            return null;
        var plot = NewPlot(m, "heap in use vs free in the arena: last good and culprit");
        var unit = MetricUnit.For(Metrics.HeapInUse);
        foreach (var (commit, color, label) in new[] { (good, Color.FromHex("#08519c"), "last good"), (culprit, CulpritColor, "culprit") })
        {
            var first = true;
            foreach (var t in commit.OkTrials)
            {
                if (!t.Series.TryGetValue(Metrics.HeapInUse, out var inUse) || !t.Series.TryGetValue(Metrics.HeapFree, out var free))
                    continue;
                var a = plot.Add.ScatterLine(inUse.Seconds.ToArray(), inUse.Values.Select(unit.Scale).ToArray(), color);
                a.LineWidth = 2.5f;
                var b = plot.Add.ScatterLine(free.Seconds.ToArray(), free.Values.Select(unit.Scale).ToArray(), color);
                b.LineWidth = 1.5f;
                b.LinePattern = LinePattern.Dashed;
                if (first)
                {
                    a.LegendText = Say(m, $"{label} {commit.Commit.ShortSha[..Math.Min(7, commit.Commit.ShortSha.Length)]}: in use");
                    b.LegendText = Say(m, $"{label}: free in arena");
                }

                first = false;
            }
        }

        plot.XLabel("time since daemon start (s)");
        plot.YLabel($"bytes{Paren(unit.Unit)}");
        plot.ShowLegend(Alignment.UpperLeft);
        return Save(m, plot, "heap-over-time.png", "Heap in use vs free",
            "Solid: bytes in use inside the arena (chunks served by their own mmap are not included); dashed: free bytes inside the arena. " +
            "Blue: last good commit; dark red: the culprit. A leak lifts the solid line; fragmentation lifts the dashed one.");
    }

    public static ReportPlot MemoryOverTime(ReportModel m)
    {
        var plot = NewPlot(m, $"{m.Decision.Metric} over time, every trial of every measured commit");
        var unit = MetricUnit.For(m.Decision.Metric);
        var labelled = LegendCommits(m);
        foreach (var c in OrderedForDrawing(m))
        {
            var side = ReportFacts.SideOf(m, c.Position);
            var color = ColorOf(m, c.Position);
            var first = true;
            foreach (var t in c.OkTrials)
            {
                if (!t.Series.TryGetValue(m.Decision.Metric, out var s) || s.Count == 0)
                    continue;
                var line = plot.Add.ScatterLine(s.Seconds.ToArray(), s.Values.Select(unit.Scale).ToArray(), color);
                line.LineWidth = side == Side.Culprit ? 3.5f : 1.5f;
                if (first && labelled.Contains(c.Position))
                    line.LegendText = Say(m, LegendLabel(m, c));
                first = false;
            }
        }

        plot.XLabel("time since daemon start (s)");
        plot.YLabel($"{m.Decision.Metric}{Paren(unit.Unit)}");
        plot.ShowLegend(Edge.Right);
        return Save(m, plot, "memory-over-time.png", "Memory over time",
            "Each line is one trial. Blues: good side; reds: bad side; thick dark red: the culprit; grey: undecided.");
    }

    public static ReportPlot FeatureByCommit(ReportModel m)
    {
        var fu = ReportFacts.FeatureUnit(m);
        var plot = NewPlot(m, $"{ReportFacts.FeatureName(m)} per commit, in commit order");
        foreach (var c in m.Commits.Where(c => c.FeatureValues.Count > 0))
        {
            var values = c.FeatureValues.Select(v => ReportFacts.ScaleFeature(m, v)).ToArray();
            var color = ColorOf(m, c.Position);
            if (values.Length >= 3)
            {
                var box = new Box
                {
                    Position = c.Position,
                    BoxMin = Robust.Quantile(values, 0.25),
                    BoxMax = Robust.Quantile(values, 0.75),
                    BoxMiddle = Robust.Median(values),
                    WhiskerMin = values.Min(),
                    WhiskerMax = values.Max(),
                    Width = 0.6,
                };
                // Add.Box assigns the next palette colour; the side colour is set after it so the box matches its dots.
                var boxPlot = plot.Add.Box(box);
                foreach (var b in boxPlot.Boxes)
                {
                    b.FillStyle.Color = color.WithAlpha(0.25);
                    b.LineStyle.Color = color;
                    b.LineStyle.Width = 1.5f;
                }
            }

            // A deterministic jitter keeps repeated values visible without making the picture change between runs.
            var xs = values.Select((_, i) => c.Position + (i - (values.Length - 1) / 2.0) * Math.Min(0.08, 0.5 / values.Length)).ToArray();
            var markers = plot.Add.Markers(xs, values, MarkerShape.FilledCircle, 7, color);
            markers.MarkerStyle.OutlineColor = Colors.Black;
        }

        foreach (var c in m.Commits.Where(c => c.Skipped))
        {
            var txt = plot.Add.Text("skipped", c.Position, 0);
            txt.LabelFontColor = UnclearColor;
            txt.LabelRotation = -90;
        }

        MarkChangePoint(m, plot);
        CommitTicks(m, plot);
        plot.XLabel("commit (position: short SHA), oldest → newest");
        plot.YLabel($"{ReportFacts.FeatureName(m)}{Paren(fu)}");
        return Save(m, plot, "feature-by-commit.png", "Deciding feature per commit",
            "One dot per trial, boxes show quartiles; the dashed line marks the change point.");
    }

    public static ReportPlot RateOfChange(ReportModel m)
    {
        var (good, culprit) = ReportFacts.Boundary(m);
        // rss_anon is where heap growth shows; fall back to the deciding metric when it was not sampled.
        var metric = new[] { good, culprit }.Where(c => c is not null)
            .All(c => c!.OkTrials.Any(t => t.Series.ContainsKey(Metrics.RssAnon)))
            ? Metrics.RssAnon
            : m.Decision.Metric;
        var unit = MetricUnit.For(metric);
        var plot = NewPlot(m, $"Rate of change of {metric}: last good commit vs culprit");
        var perMin = unit.Unit.Length == 0 ? "per min" : unit.Unit + "/min";
        foreach (var (c, color, label) in new[] { (good, Color.FromHex("#1f5fbf"), "good boundary"), (culprit, CulpritColor, "culprit") })
        {
            if (c is null)
                continue;
            var first = true;
            foreach (var t in c.OkTrials)
            {
                if (!t.Series.TryGetValue(metric, out var s) || s.Count < 3)
                    continue;
                var rate = SmoothedRatePerMinute(s).Select(unit.Scale).ToArray();
                var line = plot.Add.ScatterLine(s.Seconds.ToArray(), rate, color);
                line.LineWidth = 2;
                if (first)
                    line.LegendText = Say(m, new Line([new Span(label + ": ")]) + LegendLabel(m, c));
                first = false;
            }
        }

        var zero = plot.Add.HorizontalLine(0, 1, Colors.Black, LinePattern.Dotted);
        zero.ExcludeFromLegend = true;
        plot.XLabel("time since daemon start (s)");
        plot.YLabel($"d {metric}/dt ({perMin})");
        plot.ShowLegend(Alignment.UpperRight);
        return Save(m, plot, "rate-of-change.png", $"Rate of change of {metric}",
            "Smoothed derivative (local linear fit over a sliding window), one line per trial.");
    }

    public static ReportPlot PosteriorPlot(ReportModel m)
    {
        var plot = NewPlot(m, "Posterior probability that each commit is the culprit");
        var post = ReportFacts.Posterior(m);
        if (post.Count > 0)
        {
            var bars = post.Select(p => new Bar
            {
                Position = p.Position,
                Value = p.P * 100.0,
                FillColor = ColorOf(m, p.Position),
                LineWidth = 0,
                Size = 0.8,
            }).ToList();
            plot.Add.Bars(bars);
            var target = plot.Add.HorizontalLine(m.Run.ConfidenceTarget * 100.0, 1.5f, Colors.Black, LinePattern.Dashed);
            target.LegendText = "confidence target " + ReportFacts.Percent(m.Run.ConfidenceTarget);
            var best = post.MaxBy(p => p.P);
            var value = plot.Add.Text(ReportFacts.Percent(best.P), best.Position, best.P * 100.0);
            value.Alignment = Alignment.LowerCenter;
            value.LabelFontSize = 15;
            value.LabelBold = true;
            plot.ShowLegend(Alignment.UpperLeft);
        }
        else
        {
            plot.Add.Annotation("No posterior: the run ended before the search produced one", Alignment.MiddleCenter);
        }

        CommitTicks(m, plot);
        plot.Axes.SetLimitsY(0, 110);
        plot.XLabel("commit (position: short SHA), oldest → newest");
        plot.YLabel(Say(m, "P(culprit) (%)"));
        return Save(m, plot, "posterior.png", "Culprit posterior",
            "Bars: the search's posterior probability per commit; dashed line: the confidence target.");
    }

    public static ReportPlot SearchPath(ReportModel m)
    {
        var plot = NewPlot(m, "Search path: which commits were measured in which round");
        var rounds = Rounds(m);
        var trialsAt = m.Commits.SelectMany(c => c.Trials.Select(t => (c.Position, t.Round)))
            .GroupBy(x => x).ToDictionary(g => g.Key, g => g.Count());
        foreach (var (round, positions) in rounds)
        {
            foreach (var p in positions)
            {
                var n = trialsAt.GetValueOrDefault((p, round));
                var marker = plot.Add.Marker(p, round, MarkerShape.FilledCircle, 10 + 2 * Math.Min(n, 10), ColorOf(m, p));
                marker.MarkerStyle.OutlineColor = Colors.Black;
                marker.MarkerStyle.OutlineWidth = 1;
                if (n > 0)
                {
                    var label = plot.Add.Text($"{n}×", p, round);
                    label.OffsetX = 12;
                    label.OffsetY = -8;
                    label.LabelFontSize = 13;
                }
            }
        }

        if (rounds.Count == 0)
            plot.Add.Annotation("No rounds recorded", Alignment.MiddleCenter);

        MarkChangePoint(m, plot);
        CommitTicks(m, plot);
        var maxRound = rounds.Count == 0 ? 1 : rounds.Max(r => r.Round);
        var yt = new ScottPlot.TickGenerators.NumericManual();
        for (var r = 1; r <= maxRound; r++)
            yt.AddMajor(r, r.ToString(ReportFacts.Inv));
        plot.Axes.Left.TickGenerator = yt;
        // Round 1 at the top so the picture reads downwards like the search ran.
        plot.Axes.SetLimitsY(maxRound + 0.7, 0.3);
        plot.XLabel("commit (position: short SHA), oldest → newest");
        plot.YLabel("search round");
        return Save(m, plot, "search-path.png", "Search path",
            "Each dot is a commit measured in that round (label: trials run); colour by side as in the other plots.");
    }

    /// <summary>Rounds from the search outcome, or reconstructed from the trials when the run ended early.</summary>
    internal static IReadOnlyList<(int Round, IReadOnlyList<int> Positions)> Rounds(ReportModel m)
    {
        if (m.Outcome is { Rounds.Count: > 0 } o)
            return o.Rounds.Where(r => r.Positions.Count > 0)
                .Select(r => (r.Number, (IReadOnlyList<int>)r.Positions.Distinct().Order().ToList())).ToList();
        return m.Commits.SelectMany(c => c.Trials.Select(t => (t.Round, c.Position)))
            .GroupBy(x => x.Round).OrderBy(g => g.Key)
            .Select(g => (g.Key, (IReadOnlyList<int>)g.Select(x => x.Position).Distinct().Order().ToList())).ToList();
    }

    /// <summary>Slope of a local least-squares line over a centred window, in units per minute. A plain finite
    /// difference would be dominated by allocator noise; the window spans about 5% of the trial (at least 5 samples).</summary>
    internal static double[] SmoothedRatePerMinute(TrialSeries s)
    {
        var n = s.Count;
        var span = s.Seconds[n - 1] - s.Seconds[0];
        var half = Math.Max(span * 0.05, 2.5 * (span / Math.Max(1, n - 1)));
        var rates = new double[n];
        for (var i = 0; i < n; i++)
        {
            double sx = 0, sy = 0, sxx = 0, sxy = 0;
            var k = 0;
            for (var j = 0; j < n; j++)
            {
                var x = s.Seconds[j];
                if (Math.Abs(x - s.Seconds[i]) > half)
                    continue;
                var y = s.Values[j];
                sx += x; sy += y; sxx += x * x; sxy += x * y;
                k++;
            }

            var den = k * sxx - sx * sx;
            rates[i] = k < 2 || den == 0 ? 0 : (k * sxy - sx * sy) / den * 60.0;
        }

        return rates;
    }

    private static Plot NewPlot(ReportModel m, string title)
    {
        var plot = new Plot();
        // Sans text reads better at PNG sizes; Skia falls back to its default face where DejaVu is not installed.
        plot.Font.Set("DejaVu Sans");
        plot.Title(Say(m, title), size: 20);
        plot.Axes.Bottom.Label.FontSize = 16;
        plot.Axes.Left.Label.FontSize = 16;
        plot.Axes.Bottom.TickLabelStyle.FontSize = 13;
        plot.Axes.Left.TickLabelStyle.FontSize = 13;
        return plot;
    }

    private static ReportPlot Save(ReportModel m, Plot plot, string file, string title, string caption)
    {
        var stamp = plot.Add.Annotation($"run {m.Run.RunId} · bisector {m.Run.ToolVersion}", Alignment.LowerRight);
        stamp.LabelFontSize = 12;
        stamp.LabelFontColor = Colors.Black.WithAlpha(0.7);
        stamp.LabelBackgroundColor = Colors.White.WithAlpha(0.8);
        stamp.LabelBorderColor = Colors.Gray;
        var png = plot.GetImageBytes(Width, Height, ImageFormat.Png);
        return new ReportPlot(file, Say(m, title), Say(m, caption), png);
    }

    private static void MarkChangePoint(ReportModel m, Plot plot)
    {
        var o = m.Outcome;
        if (o is { Status: Search.SearchStatus.Found, Culprit: { } c })
        {
            var line = plot.Add.VerticalLine(c - 0.5, 2, CulpritColor, LinePattern.Dashed);
            line.LegendText = $"change point: {c - 1} → {c}";
            plot.ShowLegend(Alignment.UpperLeft);
        }
        else if (o is { Status: Search.SearchStatus.FoundRange })
        {
            var span = plot.Add.HorizontalSpan(o.RangeFirst - 0.5, o.RangeLast + 0.5);
            span.FillStyle.Color = CulpritColor.WithAlpha(0.12);
            span.LineStyle.Width = 0;
            span.LegendText = Say(m, $"culprit range: {o.RangeFirst}–{o.RangeLast}");
            plot.ShowLegend(Alignment.UpperLeft);
        }
    }

    /// <summary>Commit positions as x ticks labelled "position: short SHA"; thinned when there are many commits.</summary>
    private static void CommitTicks(ReportModel m, Plot plot)
    {
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        var step = Math.Max(1, (int)Math.Ceiling(m.Commits.Count / 30.0));
        foreach (var c in m.Commits.OrderBy(c => c.Position))
        {
            if (c.Position % step == 0 || ReportFacts.SideOf(m, c.Position) == Side.Culprit)
                ticks.AddMajor(c.Position, $"{c.Position}: {c.Commit.Sha[..Math.Min(7, c.Commit.Sha.Length)]}");
        }

        plot.Axes.Bottom.TickGenerator = ticks;
        plot.Axes.Bottom.TickLabelStyle.Rotation = 35;
        plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleLeft;
        plot.Axes.Bottom.MinimumSize = 110;
        plot.Axes.SetLimitsX(-0.7, m.LastPosition + 0.7);
    }

    /// <summary>Which commits get a legend entry: all of them while the legend stays readable, otherwise the ones
    /// the story needs (good anchor, last good, culprit, first bad, bad end); colour explains the rest.</summary>
    private static HashSet<int> LegendCommits(ReportModel m)
    {
        var measured = m.Commits.Where(c => c.Measured).Select(c => c.Position).Order().ToList();
        if (measured.Count <= 12)
            return measured.ToHashSet();
        var (good, culprit) = ReportFacts.Boundary(m);
        var keep = new HashSet<int> { measured[0], measured[^1] };
        if (good is not null)
            keep.Add(good.Position);
        if (culprit is not null)
        {
            keep.Add(culprit.Position);
            if (measured.FirstOrDefault(p => p > culprit.Position) is var next && next > 0)
                keep.Add(next);
        }

        return keep;
    }

    // Culprit drawn last so its thick line sits on top of the others.
    private static IEnumerable<CommitReport> OrderedForDrawing(ReportModel m) =>
        m.Commits.OrderBy(c => ReportFacts.SideOf(m, c.Position) == Side.Culprit ? 1 : 0).ThenBy(c => c.Position);

    private static Line LegendLabel(ReportModel m, CommitReport c)
    {
        var tag = ReportFacts.SideOf(m, c.Position) switch
        {
            Side.Culprit => " (culprit)",
            _ when c.Position == 0 => " (good anchor)",
            _ => "",
        };
        return new Line([new Span($"{c.Position}: "), Span.Git($"{c.Commit.ShortSha[..Math.Min(7, c.Commit.ShortSha.Length)]} {ReportFacts.OneLine(c.Commit.Subject, 28)}"), new Span(tag)]);
    }

    /// <summary>Every text drawn into a plot or shown beside it (title, caption, legend), in the run's words with git
    /// text as it is: the plots' one place for words, as <see cref="ReportDocument.Build"/> is the report's.</summary>
    private static string Say(ReportModel m, Line text) => text.Say(m.Terms);

    private static string Paren(string unit) => unit.Length == 0 ? "" : $" ({unit})";

    /// <summary>Blues for the good side and reds for the bad side, darker the closer a commit is to the change,
    /// so neighbours of the culprit stand out from the far ends of the range.</summary>
    private static Color ColorOf(ReportModel m, int position)
    {
        var side = ReportFacts.SideOf(m, position);
        if (side == Side.Culprit)
            return CulpritColor;
        if (side == Side.Unclear)
            return UnclearColor;
        var same = m.Commits.Select(c => c.Position).Where(p => ReportFacts.SideOf(m, p) == side).Order().ToList();
        var rank = same.IndexOf(position);
        var count = Math.Max(1, same.Count - 1);
        // 0 = far from the change, 1 = next to it.
        var closeness = side == Side.Good ? (double)rank / count : 1.0 - (double)rank / count;
        if (same.Count == 1)
            closeness = 1;
        return side == Side.Good
            ? Lerp(Color.FromHex("#9ecae1"), Color.FromHex("#08519c"), closeness)
            : Lerp(Color.FromHex("#fc9272"), Color.FromHex("#cb181d"), closeness);
    }

    private static Color Lerp(Color a, Color b, double t) =>
        new((byte)(a.R + (b.R - a.R) * t), (byte)(a.G + (b.G - a.G) * t), (byte)(a.B + (b.B - a.B) * t));
}
