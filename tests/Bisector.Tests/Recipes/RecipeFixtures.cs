using Bisector.Recipes;

namespace Bisector.Tests.Recipes;

/// <summary>A temporary folder holding recipe files, removed when the test ends.</summary>
internal sealed class TempFolder : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("bisector-recipes-").FullName;

    public string Write(string relativePath, string text)
    {
        var path = System.IO.Path.Combine(Path, relativePath);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
        return path;
    }

    public string WriteBytes(string relativePath, byte[] bytes)
    {
        var path = System.IO.Path.Combine(Path, relativePath);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    public void Dispose() => Directory.Delete(Path, recursive: true);
}

internal static class RecipeFixtures
{
    /// <summary>The agreed example format, every key written out.</summary>
    public const string Full = """
        name: demo-daemon
        description: Demo daemon with a realloc-shrink heap fragmentation regression
        build:
          mode: worktree            # worktree | incremental
          prepare: []
          patches: []
          steps:
            - make -j2
          artifacts:
            - demod
            - demo-client
          env: {}
          timeout: 5m
        run:
          command: ./demod "$BISECTOR_RUN_DIR/demod.sock"
          env: {}
          files: {}
          ready: { file: "$BISECTOR_RUN_DIR/demod.sock", timeout: 10s }
          memory-limit: 256M
          isolation: { mount: true, pid: true, network: true, tmpfs: [/run] }
          stop-timeout: 5s
        workload:
          command: ./demo-client "$BISECTOR_RUN_DIR/demod.sock"
          env: {}
          restart: true
        sampling:
          interval: 100ms
          warmup: 2s
          window: 10s
          metrics: [rss_anon, vm_rss, cgroup_usage]
          heap-counters: false
        decide:
          metric: rss_anon
          feature: slope
          direction: increase
          min-effect: 0
        trials:
          repeats: 3
          max: 12
        """;

    /// <summary>Only the required keys.</summary>
    public const string Minimal = """
        name: tiny
        build:
          steps: [make]
          artifacts: [tinyd]
        run:
          command: ./tinyd
        decide:
          metric: rss_anon
        """;

    public static Recipe Parse(string yaml, string baseDirectory = "/nonexistent") =>
        RecipeLoader.Parse(yaml, "test.yaml", baseDirectory);

    /// <summary>Asserts a ConfigException that names the file and line, and whose message carries each fragment.</summary>
    public static ConfigException AssertError(Action act, string file, int line, params string[] fragments)
    {
        var ex = Assert.Throws<ConfigException>(act);
        Assert.Equal(file, ex.File);
        Assert.Equal(line, ex.Line);
        Assert.Contains($"{file}:{line}:", ex.Message);
        foreach (var fragment in fragments)
            Assert.Contains(fragment, ex.Message);
        return ex;
    }

    public static ConfigException AssertRecipeError(string yaml, int line, params string[] fragments) =>
        AssertError(() => Parse(yaml), "test.yaml", line, fragments);
}
