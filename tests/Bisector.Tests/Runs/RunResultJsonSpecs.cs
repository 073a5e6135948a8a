using System.Text.Json;
using Bisector.Runs;
using Bisector.Search;
using Bisector.Tests.Reporting;

namespace Bisector.Tests.Runs;

public sealed class RunResultJsonSpecs
{
    [Fact]
    public void I_can_parse_the_json_result_of_a_run_with_its_verdict_culprit_effect_commits_and_report_paths()
    {
        // Arrange
        var model = SyntheticRun.Build();
        var culprit = model.At(SyntheticRun.Culprit)!.Commit;

        // Act
        using var json = JsonDocument.Parse(RunResultJson.Render(model, "/tmp/results/run-20210330-0900"));

        // Assert
        var root = json.RootElement;
        Assert.Equal(RunResultJson.SchemaVersion, root.GetProperty("schemaVersion").GetInt32());
        Assert.Equal("culprit", root.GetProperty("verdict").GetString());
        Assert.Equal(culprit.Sha, root.GetProperty("culprit").GetProperty("sha").GetString());
        Assert.Equal(SyntheticRun.Culprit, root.GetProperty("culprit").GetProperty("position").GetInt32());
        var effect = root.GetProperty("effect");
        Assert.Equal("MiB/min", effect.GetProperty("unit").GetString());
        Assert.True(effect.GetProperty("low").GetDouble() <= effect.GetProperty("shift").GetDouble());
        Assert.True(effect.GetProperty("shift").GetDouble() <= effect.GetProperty("high").GetDouble());
        Assert.Equal(0.5, effect.GetProperty("threshold").GetDouble());
        var commits = root.GetProperty("commits").EnumerateArray().ToList();
        Assert.Equal(model.Commits.Count, commits.Count);
        Assert.Equal("culprit", commits[SyntheticRun.Culprit].GetProperty("side").GetString());
        Assert.Equal("Failed", commits[SyntheticRun.Skipped].GetProperty("build").GetString());
        // The hostile subject is one line of JSON text, not markup and not a second line.
        Assert.Equal(Bisector.Reporting.ReportFacts.OneLine(SyntheticRun.HostileSubject), commits[SyntheticRun.Hostile].GetProperty("subject").GetString());
        Assert.Equal("/tmp/results/run-20210330-0900/report.md", root.GetProperty("reports").GetProperty("markdown").GetString());
    }

    [Theory]
    [InlineData(SearchStatus.NoRegression, "no-regression")]
    [InlineData(SearchStatus.Undecided, "undecided")]
    public void I_can_tell_a_run_without_a_culprit_from_the_json_verdict(SearchStatus status, string verdict)
    {
        // Act
        using var json = JsonDocument.Parse(RunResultJson.Render(SyntheticRun.Build(status), null));

        // Assert
        Assert.Equal(verdict, json.RootElement.GetProperty("verdict").GetString());
        Assert.Equal(JsonValueKind.Null, json.RootElement.GetProperty("culprit").ValueKind);
        Assert.Equal(JsonValueKind.Null, json.RootElement.GetProperty("reports").ValueKind);
    }

    [Fact]
    public void I_can_see_an_interrupted_run_as_interrupted_and_a_live_one_as_running()
    {
        // Arrange
        var model = SyntheticRun.Build(interrupted: true);

        // Act
        using var stopped = JsonDocument.Parse(RunResultJson.Render(model, null));
        using var live = JsonDocument.Parse(RunResultJson.Render(model, null, running: true));

        // Assert
        Assert.Equal("interrupted", stopped.RootElement.GetProperty("verdict").GetString());
        Assert.Equal("running", live.RootElement.GetProperty("verdict").GetString());
        Assert.Equal(JsonValueKind.Null, stopped.RootElement.GetProperty("confidence").ValueKind);
    }

    [Fact]
    public void I_can_read_each_experiment_its_trials_effect_interval_and_why_one_could_not_run_from_the_json()
    {
        // Arrange: the experiments were analysed with the demo recipe, which decides on the plateau (MiB)
        var synthetic = SyntheticRun.Build();
        var model = synthetic with
        {
            Decision = synthetic.Decision with { Feature = Bisector.Statistics.FeatureKind.Plateau },
            Experiments = Bisector.Tests.Diagnosis.ExperimentAnalysisSpecs.FragmentationReport(),
        };

        // Act
        using var json = JsonDocument.Parse(RunResultJson.Render(model, null));

        // Assert
        var experiments = json.RootElement.GetProperty("experiments");
        Assert.Equal(model.Experiments!.Headline, experiments.GetProperty("conclusion").GetString());
        Assert.Equal(new string('b', 40), experiments.GetProperty("culpritSha").GetString());
        Assert.True(experiments.GetProperty("growth").GetBoolean());
        Assert.Equal(30, experiments.GetProperty("trials").GetInt32());
        var results = experiments.GetProperty("results").EnumerateArray().ToDictionary(r => r.GetProperty("name").GetString()!);
        Assert.Equal(["jemalloc", "tcmalloc", "mmap_threshold=131072", "trim"], results.Keys);

        var jemalloc = results["jemalloc"];
        Assert.Equal("allocator", jemalloc.GetProperty("kind").GetString());
        Assert.Equal("growth-gone", jemalloc.GetProperty("finding").GetString());
        Assert.Equal(10, jemalloc.GetProperty("trials").GetInt32());
        Assert.Equal(JsonValueKind.Null, jemalloc.GetProperty("notRun").ValueKind);
        var regression = jemalloc.GetProperty("regression");
        Assert.Equal("Same", regression.GetProperty("verdict").GetString());
        Assert.Equal("MiB", regression.GetProperty("unit").GetString());
        Assert.True(regression.GetProperty("low").GetDouble() <= regression.GetProperty("shift").GetDouble());
        Assert.True(regression.GetProperty("shift").GetDouble() <= regression.GetProperty("high").GetDouble());
        Assert.Equal(5, regression.GetProperty("candidateTrials").GetInt32());
        Assert.InRange(jemalloc.GetProperty("versusBuilt").GetProperty("shift").GetDouble(), -7.4, -7.0);

        var tcmalloc = results["tcmalloc"];
        Assert.Equal("not-run", tcmalloc.GetProperty("finding").GetString());
        Assert.Equal("libtcmalloc_minimal.so.4 is not installed", tcmalloc.GetProperty("notRun").GetString());
        Assert.Equal(JsonValueKind.Null, tcmalloc.GetProperty("regression").ValueKind);

        var trim = results["trim"];
        Assert.Equal("trim-probe", trim.GetProperty("kind").GetString());
        Assert.Equal("Regressed", trim.GetProperty("returnedByTrim").GetProperty("verdict").GetString());
        Assert.InRange(trim.GetProperty("trim").GetProperty("returnedCulpritMiB").GetDouble(), 5.9, 6.1);
        Assert.InRange(trim.GetProperty("trim").GetProperty("share").GetDouble(), 0.85, 0.9);
    }

    [Fact]
    public void I_see_null_experiments_in_the_json_of_a_run_that_ran_none()
    {
        // Act
        using var json = JsonDocument.Parse(RunResultJson.Render(SyntheticRun.Build(), null));

        // Assert
        Assert.Equal(JsonValueKind.Null, json.RootElement.GetProperty("experiments").ValueKind);
    }
}
