using Bisector.Recipes;
using Bisector.Statistics;
using static Bisector.Tests.Recipes.RecipeFixtures;

namespace Bisector.Tests.Recipes;

public class RecipeLoaderSpecs
{
    private static string FullWith(string oldText, string newText)
    {
        Assert.Contains(oldText, Full);
        return Full.Replace(oldText, newText);
    }

    [Fact]
    public void I_can_load_the_agreed_recipe_format_from_a_file()
    {
        // Arrange
        using var folder = new TempFolder();
        var path = folder.Write("recipes/demo.yaml", Full);

        // Act
        var recipe = RecipeLoader.Load(path);

        // Assert
        Assert.Equal("demo-daemon", recipe.Name);
        Assert.Equal("Demo daemon with a realloc-shrink heap fragmentation regression", recipe.Description);
        Assert.Equal(BuildMode.Worktree, recipe.Build.Mode);
        Assert.Equal(["make -j2"], recipe.Build.Steps);
        Assert.Equal(["demod", "demo-client"], recipe.Build.Artifacts);
        Assert.Equal(TimeSpan.FromMinutes(5), recipe.Build.Timeout);
        Assert.Equal("./demod \"$BISECTOR_RUN_DIR/demod.sock\"", recipe.Run.Command);
        Assert.Equal(new ReadySpec("$BISECTOR_RUN_DIR/demod.sock", TimeSpan.FromSeconds(10)), recipe.Run.Ready);
        Assert.Equal(256L * 1024 * 1024, recipe.Run.MemoryLimitBytes);
        Assert.True(recipe.Run.Isolation is { Mount: true, Pid: true, Network: true });
        Assert.Equal(["/run"], recipe.Run.Isolation.Tmpfs);
        Assert.Equal(TimeSpan.FromSeconds(5), recipe.Run.StopTimeout);
        Assert.NotNull(recipe.Workload);
        Assert.True(recipe.Workload.Restart);
        Assert.Equal(TimeSpan.FromMilliseconds(100), recipe.Sampling.Interval);
        Assert.Equal(TimeSpan.FromSeconds(2), recipe.Sampling.Warmup);
        Assert.Equal(TimeSpan.FromSeconds(10), recipe.Sampling.Window);
        Assert.Equal(["rss_anon", "vm_rss", "cgroup_usage"], recipe.Sampling.Metrics);
        Assert.Equal(new DecisionSpec("rss_anon", FeatureKind.Slope, RegressionDirection.Increase, 0), recipe.Decide);
        Assert.Equal(new TrialsSpec(3, 12), recipe.Trials);
        Assert.Equal(Path.GetFullPath(path), recipe.SourceFile);
        Assert.Matches("^[0-9a-f]{64}$", recipe.Hash);
    }

    [Fact]
    public void I_can_rely_on_sensible_defaults_for_everything_optional()
    {
        // Act
        var recipe = Parse(Minimal);

        // Assert
        Assert.Equal("", recipe.Description);
        Assert.Equal(BuildMode.Worktree, recipe.Build.Mode);
        Assert.Empty(recipe.Build.Prepare);
        Assert.Empty(recipe.Build.Patches);
        Assert.Empty(recipe.Build.Env);
        Assert.Equal(RecipeLoader.DefaultBuildTimeout, recipe.Build.Timeout);
        Assert.Null(recipe.Run.Ready);
        Assert.Equal(new IsolationSpec(true, true, true, []), recipe.Run.Isolation with { Tmpfs = [] });
        Assert.Empty(recipe.Run.Isolation.Tmpfs);
        Assert.Equal(TimeSpan.FromSeconds(5), recipe.Run.StopTimeout);
        Assert.Equal(1L << 30, recipe.Run.MemoryLimitBytes);
        Assert.Null(recipe.Workload);
        Assert.Equal(TimeSpan.FromMilliseconds(100), recipe.Sampling.Interval);
        Assert.Equal(TimeSpan.FromSeconds(2), recipe.Sampling.Warmup);
        Assert.Equal(TimeSpan.FromSeconds(10), recipe.Sampling.Window);
        Assert.Equal(["rss_anon", "vm_rss", "cgroup_usage"], recipe.Sampling.Metrics);
        Assert.False(recipe.Sampling.HeapCounters);
        Assert.Equal(new DecisionSpec("rss_anon", FeatureKind.Slope, RegressionDirection.Increase, 0), recipe.Decide);
        Assert.Equal(new TrialsSpec(3, 12), recipe.Trials);
    }

    [Fact]
    public void I_can_write_every_option_and_get_it_back()
    {
        // Arrange
        using var folder = new TempFolder();
        folder.Write("patches/fix-build.patch", "--- a/x\n+++ b/x\n");
        var path = folder.Write("r.yaml", """
            name: journald
            build:
              mode: incremental
              prepare: ["sed -i s/-Werror// meson.build"]
              patches: [patches/fix-build.patch]
              steps: ["meson setup build || true", "ninja -C build"]
              artifacts: [build/systemd-journald, "build/*.so"]
              env: { CC: gcc, CFLAGS: "-O2" }
              timeout: 1h
            run:
              command: ./build/systemd-journald
              env: { SYSTEMD_LOG_LEVEL: debug }
              files:
                etc/journald.conf: |
                  [Journal]
                  Storage=volatile
              ready: { timeout: 3s }
              memory-limit: 1G
              isolation: { network: false, tmpfs: [/run, /var/log/journal] }
              stop-timeout: 0s
            workload:
              command: ./logger-storm
              restart: false
            sampling:
              interval: 250ms
              warmup: 1m30s
              window: 10m
              metrics: [cgroup_usage, heap_arena]
              heap-counters: true
            decide:
              metric: cgroup_usage
              feature: plateau
              direction: decrease
              min-effect: 1.5e6
            trials:
              repeats: 20
            """);

        // Act
        var recipe = RecipeLoader.Load(path);

        // Assert
        Assert.Equal(BuildMode.Incremental, recipe.Build.Mode);
        Assert.Equal(["sed -i s/-Werror// meson.build"], recipe.Build.Prepare);
        Assert.Equal([Path.Combine(folder.Path, "patches/fix-build.patch")], recipe.Build.Patches);
        Assert.Equal(["build/systemd-journald", "build/*.so"], recipe.Build.Artifacts);
        Assert.Equal("-O2", recipe.Build.Env["CFLAGS"]);
        Assert.Equal(TimeSpan.FromHours(1), recipe.Build.Timeout);
        Assert.Equal("[Journal]\nStorage=volatile\n", recipe.Run.Files["etc/journald.conf"]);
        Assert.Equal(new ReadySpec(null, TimeSpan.FromSeconds(3)), recipe.Run.Ready);
        Assert.Equal(1L << 30, recipe.Run.MemoryLimitBytes);
        Assert.True(recipe.Run.Isolation is { Mount: true, Pid: true, Network: false });
        Assert.Equal(["/run", "/var/log/journal"], recipe.Run.Isolation.Tmpfs);
        Assert.Equal(TimeSpan.Zero, recipe.Run.StopTimeout);
        Assert.False(recipe.Workload!.Restart);
        Assert.Equal(TimeSpan.FromSeconds(90), recipe.Sampling.Warmup);
        Assert.Equal(["cgroup_usage", "heap_arena"], recipe.Sampling.Metrics);
        Assert.Equal(new DecisionSpec("cgroup_usage", FeatureKind.Plateau, RegressionDirection.Decrease, 1.5e6), recipe.Decide);
        // Raising repeats alone lifts the default cap with it instead of failing on max < repeats.
        Assert.Equal(new TrialsSpec(20, 20), recipe.Trials);
    }

    [Fact]
    public void I_can_turn_isolation_off_with_one_word()
    {
        // Act
        var recipe = Parse(Minimal.Replace("  command: ./tinyd", "  command: ./tinyd\n  isolation: false"));

        // Assert
        Assert.Equal(new IsolationSpec(false, false, false, recipe.Run.Isolation.Tmpfs), recipe.Run.Isolation);
        Assert.Empty(recipe.Run.Isolation.Tmpfs);
    }

    [Theory]
    [InlineData("timeout: 5m", "timeout: '5 minutes'", 13, "build.timeout", "is not a duration", "5m or 90s")]
    [InlineData("timeout: 5m", "timeout: 300", 13, "build.timeout", "is not a duration", "300s")]
    [InlineData("memory-limit: 256M", "memory-limit: lots", 19, "run.memory-limit", "is not a size", "256M")]
    [InlineData("repeats: 3", "repeats: three", 38, "trials.repeats", "is not a whole number")]
    [InlineData("restart: true", "restart: sometimes", 25, "workload.restart", "is not a boolean", "true or false")]
    [InlineData("min-effect: 0", "min-effect: big", 36, "decide.min-effect", "is not a rate", "512K/min")]
    [InlineData("min-effect: 0", "min-effect: 1.5Q", 36, "decide.min-effect", "is not a rate")]
    [InlineData("    - make -j2", "    - { cmd: make }", 8, "build.steps", "not a string")]
    [InlineData("  env: {}\n  timeout: 5m", "  env: [A=1]\n  timeout: 5m", 12, "build.env", "must be a mapping")]
    [InlineData("feature: slope", "feature: slpoe", 34, "decide.feature", "did you mean 'slope'?")]
    [InlineData("mode: worktree", "mode: fresh", 4, "build.mode", "worktree | incremental")]
    public void I_get_the_file_line_and_fix_for_a_value_of_the_wrong_type(string oldText, string newText, int line, params string[] fragments)
    {
        // Arrange
        var yaml = FullWith(oldText, newText);

        // Act & Assert
        AssertRecipeError(yaml, line, fragments);
    }

    [Theory]
    [InlineData("level", "1M", 1048576.0)]
    [InlineData("plateau", "200K", 204800.0)]
    [InlineData("peak", "1.5MiB", 1572864.0)]
    [InlineData("mean", "1048576", 1048576.0)]
    [InlineData("slope", "512K/min", 524288.0)]
    [InlineData("slope", "10K/s", 614400.0)]
    [InlineData("slope", "6M/h", 104857.6)]
    [InlineData("slope", "204800", 204800.0)]
    public void I_can_write_min_effect_as_a_size_for_a_level_and_as_a_rate_for_a_slope(string feature, string text, double expected)
    {
        // Arrange
        var yaml = FullWith("feature: slope", $"feature: {feature}").Replace("min-effect: 0", $"min-effect: {text}", StringComparison.Ordinal);

        // Act
        var recipe = Parse(yaml);

        // Assert: bytes for a level, bytes per minute for a slope
        Assert.Equal(expected, recipe.Decide.MinEffect, 6);
    }

    [Theory]
    [InlineData("slope", "1M", "is a size, but this feature is a slope", "write a rate such as 1M/min")]
    [InlineData("level", "200K/min", "is a rate, but this feature is a level", "write a size such as 200K")]
    public void I_get_the_recipe_line_and_the_right_spelling_when_min_effect_has_the_wrong_kind_of_unit(string feature, string text, params string[] fragments)
    {
        // Arrange
        var yaml = FullWith("feature: slope", $"feature: {feature}").Replace("min-effect: 0", $"min-effect: {text}", StringComparison.Ordinal);

        // Act & Assert
        AssertRecipeError(yaml, 36, ["decide.min-effect", .. fragments]);
    }

    [Theory]
    [InlineData("  memory-limit: 256M", "  memory-limt: 256M", 19, "unknown key 'run.memory-limt'", "did you mean 'memory-limit'?")]
    [InlineData("  stop-timeout: 5s", "  stop_timeout: 5s", 21, "unknown key 'run.stop_timeout'", "did you mean 'stop-timeout'?")]
    [InlineData("  timeout: 5m", "  timeout: 5m\n  memory-limit: 1G", 14, "unknown key 'build.memory-limit'", "belongs under 'run'")]
    [InlineData("trials:", "colour: blue\ntrials:", 37, "unknown key 'colour'", "known keys at the top level")]
    public void I_get_unknown_keys_rejected_with_a_suggestion(string oldText, string newText, int line, params string[] fragments)
    {
        AssertRecipeError(FullWith(oldText, newText), line, fragments);
    }

    [Theory]
    [InlineData("  steps: [make]\n", "", "missing required key 'build.steps'")]
    [InlineData("  artifacts: [tinyd]\n", "", "missing required key 'build.artifacts'")]
    [InlineData("  command: ./tinyd\n", "  env: {}\n", "missing required key 'run.command'")]
    [InlineData("  metric: rss_anon\n", "  feature: peak\n", "missing required key 'decide.metric'")]
    [InlineData("name: tiny\n", "", "missing required key 'name'")]
    [InlineData("decide:\n  metric: rss_anon\n", "", "missing required key 'decide'")]
    public void I_get_missing_required_keys_named(string oldText, string newText, string fragment)
    {
        // Arrange
        var yaml = (Minimal + "\n").Replace(oldText, newText);
        Assert.NotEqual(Minimal + "\n", yaml);

        // Act
        var ex = Assert.Throws<ConfigException>(() => Parse(yaml));

        // Assert
        Assert.Equal("test.yaml", ex.File);
        Assert.NotNull(ex.Line);
        Assert.Contains(fragment, ex.Message);
    }

    [Fact]
    public void I_get_a_missing_key_reported_at_the_line_of_its_section()
    {
        // Arrange: 'run:' is on line 5 of the minimal recipe; its only key is replaced by another.
        var yaml = Minimal.Replace("  command: ./tinyd", "  stop-timeout: 1s");

        // Act & Assert
        AssertRecipeError(yaml, 5, "missing required key 'run.command'", "add 'command:'");
    }

    [Theory]
    [InlineData("repeats: 3", "repeats: 1", 38, "trials.repeats: 1", "from 2 to")]
    [InlineData("max: 12", "max: 2", 39, "'trials.max' (2) is smaller than 'trials.repeats' (3)")]
    [InlineData("interval: 100ms", "interval: 0ms", 27, "sampling.interval: 0ms", "out of range")]
    [InlineData("window: 10s", "window: 100ms", 29, "'sampling.window' (100ms) must be longer than 'sampling.interval' (100ms)")]
    [InlineData("memory-limit: 256M", "memory-limit: 512K", 19, "run.memory-limit: 512K", "from 1M to")]
    [InlineData("memory-limit: 256M", "memory-limit: 99999999999999999999G", 19, "run.memory-limit", "out of range")]
    [InlineData("memory-limit: 256M", "memory-limit: 2000G", 19, "run.memory-limit: 2000G", "out of range")]
    [InlineData("timeout: 5m", "timeout: 100000h", 13, "build.timeout: 100000h", "out of range", "from 1s to 24h")]
    [InlineData("repeats: 3", "repeats: 99999999999999999999", 38, "trials.repeats")]
    [InlineData("min-effect: 0", "min-effect: -1", 36, "decide.min-effect: -1", "out of range")]
    [InlineData("stop-timeout: 5s", "stop-timeout: 2h", 21, "run.stop-timeout: 2h", "from 0s to 10m")]
    public void I_get_out_of_range_values_rejected(string oldText, string newText, int line, params string[] fragments)
    {
        AssertRecipeError(FullWith(oldText, newText), line, fragments);
    }

    [Theory]
    [InlineData("metric: rss_anon", "metric: rss_file", 33, "'decide.metric: rss_file' is not one of the sampled metrics")]
    [InlineData("metrics: [rss_anon, vm_rss, cgroup_usage]", "metrics: [rss_anon, vm-rss]", 30, "unknown metric 'vm-rss'", "did you mean 'vm_rss'?")]
    [InlineData("metrics: [rss_anon, vm_rss, cgroup_usage]", "metrics: [rss_anon, rss_anon]", 30, "listed twice")]
    [InlineData("metrics: [rss_anon, vm_rss, cgroup_usage]", "metrics: [rss_anon, heap_arena]", 30, "unknown metric 'heap_arena'", "heap-counters")]
    [InlineData("  env: {}\n  files", "  env: { BISECTOR_COMMIT: abc }\n  files", 16, "'run.env.BISECTOR_COMMIT' is set by Bisector itself")]
    [InlineData("  env: {}\n  files", "  env: { 1BAD: x }\n  files", 16, "invalid variable name '1BAD'")]
    [InlineData("    - demod\n", "    - ../demod\n", 10, "'build.artifacts' entry '../demod'", "without '..'")]
    [InlineData("tmpfs: [/run]", "tmpfs: [run]", 20, "'run.isolation.tmpfs' entry 'run'", "absolute")]
    [InlineData("{ mount: true, pid: true, network: true, tmpfs: [/run] }", "{ mount: false, tmpfs: [/run] }", 20, "needs a private mount namespace")]
    [InlineData("name: demo-daemon", "name: demo daemon!", 1, "'name: demo daemon!' is not a valid name")]
    public void I_get_inconsistent_values_rejected(string oldText, string newText, int line, params string[] fragments)
    {
        AssertRecipeError(FullWith(oldText, newText), line, fragments);
    }

    [Fact]
    public void I_get_a_missing_patch_file_named_with_the_line_and_where_it_was_looked_for()
    {
        // Arrange
        using var folder = new TempFolder();
        folder.Write("present.patch", "diff\n");
        var path = folder.Write("sub/r.yaml", FullWith("  patches: []", "  patches:\n    - ../present.patch\n    - missing.patch"));

        // Act
        var ex = AssertError(() => RecipeLoader.Load(path), path, 8, "patch file 'missing.patch' does not exist", "relative to the recipe");

        // Assert
        Assert.Contains(Path.Combine(folder.Path, "sub", "missing.patch"), ex.Message);
    }

    [Fact]
    public void I_get_a_clear_error_for_a_recipe_file_that_does_not_exist()
    {
        // Arrange
        using var folder = new TempFolder();
        var path = Path.Combine(folder.Path, "nope.yaml");

        // Act
        var ex = Assert.Throws<ConfigException>(() => RecipeLoader.Load(path));

        // Assert
        Assert.Equal(path, ex.File);
        Assert.Contains("file not found", ex.Message);
    }

    [Fact]
    public void I_get_the_same_hash_when_only_formatting_comments_and_spelling_change()
    {
        // Arrange: same values, different key order, flow vs block style, comments, quoting and unit spelling.
        const string reformatted = """
            # The demo daemon, reformatted.
            trials: { max: 12 }
            decide: { metric: "rss_anon", direction: increase }
            name: 'demo-daemon'
            description: a different description is prose, not behaviour
            sampling:
              window: 10000ms
              interval: 0.1s
            run:
              stop-timeout: 5000ms
              isolation:
                tmpfs:
                  - /run
              memory-limit: 268435456
              ready:
                timeout: 10s
                file: $BISECTOR_RUN_DIR/demod.sock
              command: './demod "$BISECTOR_RUN_DIR/demod.sock"'
            workload:
              command: ./demo-client "$BISECTOR_RUN_DIR/demod.sock"
            build:
              timeout: 300s
              artifacts: [demod, demo-client]
              steps: [make -j2]
            """;

        // Act
        var original = Parse(Full);
        var other = Parse(reformatted);

        // Assert
        Assert.Equal(original.Hash, other.Hash);
        Assert.Equal(original.Hash, Parse(Full).Hash);
    }

    [Theory]
    [InlineData("name: demo-daemon", "name: demo-daemon2")]
    [InlineData("    - make -j2", "    - make -j3")]
    [InlineData("mode: worktree", "mode: incremental")]
    [InlineData("    - demo-client\n", "")]
    [InlineData("  env: {}\n  timeout", "  env: { CC: clang }\n  timeout")]
    [InlineData("timeout: 5m", "timeout: 6m")]
    [InlineData("  files: {}", "  files: { a.conf: x }")]
    [InlineData("memory-limit: 256M", "memory-limit: 257M")]
    [InlineData("tmpfs: [/run]", "tmpfs: [/run, /tmp]")]
    [InlineData("network: true", "network: false")]
    [InlineData("restart: true", "restart: false")]
    [InlineData("window: 10s", "window: 11s")]
    [InlineData("metrics: [rss_anon, vm_rss, cgroup_usage]", "metrics: [rss_anon, cgroup_usage, vm_rss]")]
    [InlineData("feature: slope", "feature: peak")]
    [InlineData("min-effect: 0", "min-effect: 0.001")]
    [InlineData("max: 12", "max: 13")]
    public void I_get_a_different_hash_for_any_semantic_change(string oldText, string newText)
    {
        // Act
        var original = Parse(Full);
        var changed = Parse(FullWith(oldText, newText));

        // Assert
        Assert.NotEqual(original.Hash, changed.Hash);
    }

    [Fact]
    public void I_get_a_different_hash_when_a_patch_file_changes_but_its_path_does_not()
    {
        // Arrange
        using var folder = new TempFolder();
        var patch = folder.Write("fix.patch", "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n");
        var recipePath = folder.Write("r.yaml", FullWith("  patches: []", "  patches: [fix.patch]"));
        var before = RecipeLoader.Load(recipePath).Hash;

        // Act
        File.WriteAllText(patch, "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+c\n");
        var after = RecipeLoader.Load(recipePath).Hash;

        // Assert
        Assert.NotEqual(before, after);
        Assert.NotEqual(Parse(Full).Hash, before);
    }

    [Fact]
    public void I_can_leave_paths_out_of_every_checkout_and_the_hash_says_so()
    {
        // Arrange
        var sparse = RecipeFixtures.Minimal.Replace("  artifacts: [tinyd]", "  artifacts: [tinyd]\n  sparse-exclude: [hwdb.d/ma-large.txt, docs]");

        // Act
        var plain = RecipeFixtures.Parse(RecipeFixtures.Minimal);
        var excluding = RecipeFixtures.Parse(sparse);

        // Assert
        Assert.Empty(plain.Build.SparseExclude);
        Assert.Equal(["hwdb.d/ma-large.txt", "docs"], excluding.Build.SparseExclude);
        Assert.NotEqual(plain.Hash, excluding.Hash);
        RecipeFixtures.AssertError(
            () => RecipeFixtures.Parse(RecipeFixtures.Minimal.Replace("  artifacts: [tinyd]", "  artifacts: [tinyd]\n  sparse-exclude: [/etc]")),
            "test.yaml", 5, "build.sparse-exclude");
    }
}
