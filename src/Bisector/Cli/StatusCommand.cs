using System.CommandLine;
using System.Globalization;
using Bisector.Building;
using Bisector.Recipes;
using Bisector.Runs;
using Bisector.Search;
using Bisector.Statistics;
using Bisector.Storage;
using Bisector.Workers;
using Line = Bisector.Reporting.Line;
using Span = Bisector.Reporting.Span;

namespace Bisector.Cli;

/// <summary><c>bisector status [RUN]</c>: progress of a run — commits, builds, trials, current verdict. Reads only.</summary>
internal static class StatusCommand
{
    public static Command Create()
    {
        var results = CommonOptions.Results();
        var run = CommonOptions.RunId();
        var list = new Option<bool>("--list") { Description = "List every run in the database" };
        var json = CommonOptions.Json();
        var command = new Command("status", "Show the progress of a run: commits, builds, trials and the current verdict") { run, results, list, json };
        command.SetAction((parse, ct) => App.GuardAsync(() => parse.GetValue(json)
            ? JsonAsync(ResultsLocation.Resolve(parse.GetValue(results)), parse.GetValue(run), Console.Out, ct)
            : ExecuteAsync(ResultsLocation.Resolve(parse.GetValue(results)), parse.GetValue(run), parse.GetValue(list), Console.Out, ct)));
        return command;
    }

    /// <summary>The run as it stands, in the shape of <see cref="RunResultJson"/>: "running" while its process lives.</summary>
    public static async Task<int> JsonAsync(string resultsDirectory, string? runId, TextWriter output, CancellationToken ct = default)
    {
        await using var store = await ResultsLocation.OpenExistingAsync(resultsDirectory, ct);
        var row = await store.GetRunAsync(runId, ct)
            ?? throw new StorageException(runId is null ? $"{store.Path} holds no run yet" : $"no run '{runId}' in {store.Path}", "Start one with 'bisector start' or 'bisector demo'; 'bisector status --list' lists runs");
        var model = await ReportAssembler.LoadAsync(store, row.Id, ct);
        var running = row.Status == RunStatus.Running && await store.GetOwnerAsync(row.Id, ct) is { } owner && RunJanitor.IsAlive(owner);
        var reportDirectory = Path.Combine(resultsDirectory, row.Id);
        var reported = File.Exists(Path.Combine(reportDirectory, Reporting.ReportWriter.HtmlFileName));
        await output.WriteLineAsync(RunResultJson.Render(model, reported ? reportDirectory : null, running));
        return 0;
    }

    public static async Task<int> ExecuteAsync(string resultsDirectory, string? runId, bool list, TextWriter output, CancellationToken ct = default)
    {
        await using var store = await ResultsLocation.OpenExistingAsync(resultsDirectory, ct);
        if (list)
        {
            foreach (var r in await store.ListRunsAsync(ct))
            {
                await output.WriteLineAsync(new Line([Span.Git($"{r.Id}  {Text(r.Status),-11}  {r.RangeSpec}  "), new Span(r.Summary ?? "")]).Say(ReportAssembler.TermsOf(r)));
            }

            return 0;
        }

        var row = await store.GetRunAsync(runId, ct)
            ?? throw new StorageException(runId is null ? $"{store.Path} holds no run yet" : $"no run '{runId}' in {store.Path}", "Start one with 'bisector start' or 'bisector demo'; 'bisector status --list' lists runs");
        var commits = await store.GetCommitsAsync(row.Id, ct);
        var builds = await store.GetBuildsAsync(row.Id, ct);
        var trials = await store.GetTrialsAsync(row.Id, ct);
        var samples = await store.CountSamplesAsync(row.Id, ct);
        // Every line is written here, in the run's words; git and user text (range, paths, recipe, subjects) as it is.
        var terms = ReportAssembler.TermsOf(row);
        Task Say(Line line) => output.WriteLineAsync(line.Say(terms));
        await Say(Span.Git($"run        {row.Id} ({Text(row.Status)})"));
        await Say(Span.Git($"range      {row.RangeSpec} -- {string.Join(' ', System.Text.Json.JsonSerializer.Deserialize<string[]>(row.PathsJson) ?? [])}"));
        await Say(Span.Git($"recipe     {row.RecipeName} ({row.RecipeHash[..12]})"));
        await Say($"started    {row.CreatedAt}{(row.EndedAt is null ? string.Empty : "  ended " + row.EndedAt)}");
        await Say($"commits    {commits.Count - 1} candidate(s) + good anchor");
        var okBuilds = builds.Count(b => b.Status.Succeeded());
        var okTrials = trials.Count(t => t.Outcome == TrialOutcome.Ok);
        await Say($"builds     {okBuilds} ok, {builds.Count - okBuilds} failed");
        await Say($"trials     {okTrials} ok, {trials.Count - okTrials} failed; {samples.ToString(CultureInfo.InvariantCulture)} samples");
        var stored = await ReportAssembler.ReadRunAsync(store, row.Id, ct);
        var positions = commits.Select(c => ((int)c.Position, c.Sha)).ToList();
        string Named(int p) => NamedCommit(commits, p);
        var identical = ReportAssembler.IdenticalBuilds(positions, builds);
        if (Reporting.IdenticalBuildsSection.Text(identical, Named) is { } twins)
        {
            await Say($"identical  {twins}");
        }
        if (Reporting.LinkedLibrariesSection.Text(ReportAssembler.Links(positions, builds), stored.Outcome?.Culprit, Named) is { } linked)
        {
            await Say(new Line([new Span("links      ")]) + linked);
        }
        if (row.Status == RunStatus.Running && await store.GetOwnerAsync(row.Id, ct) is { } owner)
        {
            // 'running' in the database only means nobody marked it otherwise; a killed process cannot.
            var inFlight = await store.GetInFlightAsync(row.Id, ct);
            await Say(RunJanitor.IsAlive(owner) || owner.Pid == Environment.ProcessId
                ? $"process    {owner.Pid} on {owner.Host}; {inFlight.Count} build(s)/trial(s) in flight"
                : $"process    {owner.Pid} on {owner.Host} is gone; 'bisector resume {row.Id}' continues it ({inFlight.Count} unfinished)");
        }

        await WriteEvidenceAsync(store, stored, commits, trials, identical, Say, ct);
        await Say($"verdict    {row.Summary ?? "(not decided yet)"}");
        return 0;
    }

    /// <summary>
    /// Per measured commit its trials, the median of the deciding feature and its verdict against the good end, then
    /// the posterior's leading block: the final table as it stands now. A finished run shows its stored outcome; a run
    /// still going gets the same numbers computed from the trials stored so far (<see cref="SearchStanding"/>).
    /// </summary>
    /// <param name="say">Writes a line in the run's words.</param>
    private static async Task WriteEvidenceAsync(
        ResultsStore store, (RunRow Run, Recipe Recipe, RunOptions Options, SearchOutcome? Outcome) stored, IReadOnlyList<CommitRow> commits,
        IReadOnlyList<TrialRow> trials, IReadOnlyList<BuildGroup> identical, Func<Line, Task> say, CancellationToken ct)
    {
        var (_, recipe, options, outcome) = stored;
        var terms = options.Terms;
        if (!terms.IsDefault)
            await say(Span.Git($"terms      {terms.Describe(options.Range)}"));
        var decision = recipe.Decide;
        var features = new Dictionary<int, List<double>>();
        foreach (var trial in trials.Where(t => t.Outcome == TrialOutcome.Ok))
        {
            var samples = await store.GetSamplesAsync(trial.Id, decision.Metric, ct);
            var list = features.TryGetValue((int)trial.Position, out var l) ? l : features[(int)trial.Position] = [];
            if (samples.Count > 0)
                list.Add(Features.Extract(new TrialSeries([.. samples.Select(x => x.Seconds)], [.. samples.Select(x => x.Value)]), decision.Feature, recipe.Sampling.Warmup.TotalSeconds));
        }

        var n = commits.Count - 1;
        IReadOnlyList<double> Values(int p) => features.TryGetValue(p, out var f) ? f : [];
        SearchStanding? standing = n < 1 ? null
            : outcome is null ? SearchStanding.From(n, Values, decision, options.Alpha,
                identical.SelectMany(g => g.Positions.Where(p => p != g.MeasuredAt).Select(p => (p, g.MeasuredAt))).ToDictionary(x => x.p, x => x.MeasuredAt))
            : new SearchStanding(outcome.VersusGood, outcome.Posterior);
        var unit = Reporting.MetricUnit.For(decision.Metric);
        var suffix = decision.Feature == FeatureKind.Slope ? (unit.Unit.Length == 0 ? " per min" : $" {unit.Unit}/min") : unit.Suffix;
        var sides = outcome?.Status is SearchStatus.Found or SearchStatus.FoundRange ? "the side of the culprit the search decided, then its " : "";
        await say($"evidence   {decision.Metric} {decision.Feature.ToString().ToLowerInvariant()} per commit (median of its trials), {sides}verdict against the good end" +
            (outcome is null ? " as it stands now:" : ":"));
        foreach (var group in trials.GroupBy(t => (int)t.Position).OrderBy(g => g.Key))
        {
            var commit = commits.FirstOrDefault(c => c.Position == group.Key);
            var values = Values(group.Key);
            var median = values.Count == 0 ? "median —" : $"median {Reporting.ReportFacts.F(unit.Scale(Robust.Median([.. values])))}{suffix}";
            // A finished run that named a culprit shows the side the search decided (as the report does), then the commit's test.
            var test = standing?.VersusGood.GetValueOrDefault(group.Key);
            var p = test is null ? "" : $", {PValueText.Statement(test.PValue)}";
            var verdict = group.Key == 0 ? "good end"
                : Reporting.ReportFacts.DecidedSide(outcome, group.Key) is { } side ? side.Cell(test, terms) + p
                : test is not null ? terms.VerdictWord(test.Verdict) + p
                : "no verdict yet";
            await say(new Line([new Span($"  #{group.Key,-3} {commit?.Sha[..10]} {group.Count(t => t.Outcome == TrialOutcome.Ok)} ok trial(s)  {median}  {verdict}  "),
                Span.Git(commit?.Subject ?? "")]));
        }

        if (standing is { Posterior.Count: > 0 })
        {
            var (first, last, mass) = standing.LeadingBlock;
            var block = first == last
                ? $"{NamedCommit(commits, first)} holds"
                : $"#{first}..#{last} ({(last - first + 1).ToString(CultureInfo.InvariantCulture)} commits) hold";
            await say($"leading    {block} {Reporting.ReportFacts.Percent(mass)} of the culprit posterior (target {Reporting.ReportFacts.Percent(options.Confidence)})");
        }
    }

    /// <summary>"#position sha" as status names a commit in its one-line summaries.</summary>
    private static string NamedCommit(IReadOnlyList<CommitRow> commits, int position) =>
        $"#{position} {commits.FirstOrDefault(c => c.Position == position)?.Sha[..10]}";

    /// <summary>The status as the database stores it and scripts grep for.</summary>
    private static string Text(RunStatus status) => status.ToString().ToLowerInvariant();
}
