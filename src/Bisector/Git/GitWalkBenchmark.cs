using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Bisector.Statistics;

namespace Bisector.Git;

/// <summary>
/// Times Bisector's commit selection (which runs <c>git rev-list</c>) next to <c>git log --format=%H</c> on the same
/// repository, checks both list the same commits in the same order, and returns a Markdown table. Meant for the
/// systemd history. The repository is measured as it is and, because a commit-graph changes the walk, also through two
/// throwaway repositories that borrow its objects (alternates) and add a commit-graph, without and with changed-path
/// Bloom filters. The repository itself is not touched.
/// </summary>
public static class GitWalkBenchmark
{
    private const int Repeats = 3;

    public static async Task<string> RunAsync(string repoPath, CancellationToken ct = default)
    {
        (string Revisions, string[] Paths)[] cases =
        [
            ("v248", ["src/basic/fileio*"]),
            ("v247..v248", ["src/basic/fileio*"]),
            ("v247..v248", ["src/basic/fileio.c"]),
            ("v247..v248", ["src/basic", ":(exclude)src/basic/meson.build"]),
            ("v248", ["src/basic/fileio.c"]),
            ("v248", []),
        ];
        var gitDir = (await Git(null, ct, "-C", repoPath, "rev-parse", "--absolute-git-dir")).Trim();
        var hasGraph = File.Exists(Path.Combine(gitDir, "objects", "info", "commit-graph"));

        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture,
            $"Median of {Repeats} runs after one warm-up, Bisector and git alternating. A range A..B is timed through the " +
            $"whole selection (`CommitSelector.SelectAsync`: resolving both ends, the merge-base check, the in-range count, " +
            $"the candidates with subjects and authors); a single tip through `CommitSelector.LogAsync`. Wall time, and CPU " +
            $"time (user + system: Bisector's process and its git children, git log's child process), which a machine " +
            $"shared with other jobs distorts far less; ratio = Bisector / git log CPU time.");
        sb.AppendLine();
        sb.AppendLine("| repository state | revisions | pathspec | commits | Bisector wall / CPU (ms) | git log wall / CPU (ms) | CPU ratio | identical |");
        sb.AppendLine("|---|---|---|---:|---:|---:|---:|---|");
        var states = new List<(string Name, string GitDir, string? Cleanup)> { (hasGraph ? "as is (has a commit-graph)" : "no commit-graph", gitDir, null) };
        try
        {
            if (!hasGraph)
            {
                var graph = await BorrowingRepositoryAsync(gitDir, false, ct);
                states.Add(("commit-graph", graph, graph));
                var bloom = await BorrowingRepositoryAsync(gitDir, true, ct);
                states.Add(("commit-graph + changed paths", bloom, bloom));
            }
            foreach (var (state, dir, _) in states)
                foreach (var (revisions, paths) in cases)
                    await RunCaseAsync(sb, state, dir, revisions, paths, ct);
        }
        finally
        {
            foreach (var (_, _, cleanup) in states)
                if (cleanup is not null) Directory.Delete(cleanup, recursive: true);
        }
        return sb.ToString();
    }

    private static async Task RunCaseAsync(StringBuilder sb, string state, string gitDir, string revisions, string[] paths,
        CancellationToken ct)
    {
        List<double> ours = [], theirs = [], oursCpu = [], theirsCpu = [];
        IReadOnlyList<string> shas = [];
        string[] gitShas = [];
        for (var i = 0; i <= Repeats; i++)
        {
            ct.ThrowIfCancellationRequested();
            var cpu = Environment.CpuUsage.TotalTime;
            var childCpu = ChildrenCpuMs();
            var sw = Stopwatch.StartNew();
            shas = revisions.Contains("..", StringComparison.Ordinal)
                ? (await CommitSelector.SelectAsync(gitDir, revisions, paths, ct: ct)).Candidates.Select(c => c.Sha).Reverse().ToArray()
                : await CommitSelector.LogAsync(gitDir, revisions, paths, ct: ct);
            var oursMs = sw.Elapsed.TotalMilliseconds;
            var oursCpuMs = (Environment.CpuUsage.TotalTime - cpu).TotalMilliseconds + (ChildrenCpuMs() - childCpu);

            childCpu = ChildrenCpuMs();
            sw.Restart();
            var output = await Git(gitDir, ct, ["log", "--format=%H", .. revisions.Split(' '), "--", .. paths]);
            var gitMs = sw.Elapsed.TotalMilliseconds;
            var gitCpuMs = ChildrenCpuMs() - childCpu;
            gitShas = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            if (i == 0) continue; // warm-up: JIT, page cache
            ours.Add(oursMs);
            theirs.Add(gitMs);
            oursCpu.Add(oursCpuMs);
            theirsCpu.Add(gitCpuMs);
        }
        double oursCpuMedian = Robust.Median(oursCpu), gitCpuMedian = Robust.Median(theirsCpu);
        sb.Append(CultureInfo.InvariantCulture,
            $"| {state} | `{revisions}` | `{string.Join(' ', paths)}` | {shas.Count} | {Robust.Median(ours):F0} / {oursCpuMedian:F0} | " +
            $"{Robust.Median(theirs):F0} / {gitCpuMedian:F0} | {oursCpuMedian / gitCpuMedian:F2} | ");
        sb.AppendLine(gitShas.SequenceEqual(shas) ? "yes |" : $"**no** (git {gitShas.Length}) |");
    }

    /// <summary>A bare repository in /tmp whose objects are the original's (alternates), with its own commit-graph.</summary>
    private static async Task<string> BorrowingRepositoryAsync(string gitDir, bool changedPaths, CancellationToken ct)
    {
        var dir = Path.Combine(Path.GetTempPath(), $"bisector-bench-graph-{Guid.NewGuid():N}");
        try
        {
            await Git(null, ct, "init", "-q", "--bare", dir);
            File.WriteAllText(Path.Combine(dir, "objects", "info", "alternates"), Path.Combine(gitDir, "objects") + "\n");
            foreach (var name in new[] { "packed-refs", "HEAD" })
                if (File.Exists(Path.Combine(gitDir, name)))
                    File.Copy(Path.Combine(gitDir, name), Path.Combine(dir, name), overwrite: true);
            CopyDirectory(Path.Combine(gitDir, "refs"), Path.Combine(dir, "refs"));
            await Git(dir, ct, ["commit-graph", "write", "--reachable", .. changedPaths ? ["--changed-paths"] : Array.Empty<string>()]);
            return dir;
        }
        catch
        {
            Directory.Delete(dir, recursive: true);
            throw;
        }
    }

    private static void CopyDirectory(string from, string to)
    {
        if (!Directory.Exists(from)) return;
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target, overwrite: true);
        }
    }

    /// <summary>CPU time of all waited-for child processes so far (getrusage RUSAGE_CHILDREN), in ms.</summary>
    private static double ChildrenCpuMs()
    {
        if (GetRUsage(-1, out var u) != 0) return double.NaN;
        return (u.UserSec + u.SysSec) * 1000.0 + (u.UserUsec + u.SysUsec) / 1000.0;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct RUsage
    {
        public long UserSec, UserUsec, SysSec, SysUsec;
        // The fourteen counters after the two timevals; only their size matters here.
        public long M0, M1, M2, M3, M4, M5, M6, M7, M8, M9, M10, M11, M12, M13;
    }

    [DllImport("libc", EntryPoint = "getrusage")]
    private static extern int GetRUsage(int who, out RUsage usage);

    private static async Task<string> Git(string? gitDir, CancellationToken ct, params string[] args)
    {
        string[] all = gitDir is null ? args : ["--git-dir", gitDir, .. args];
        return await GitCli.RunAsync(Directory.GetCurrentDirectory(), all, ct);
    }
}
