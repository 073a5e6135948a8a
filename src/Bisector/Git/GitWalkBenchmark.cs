using System.Diagnostics;
using System.Globalization;
using System.Text;
using CliWrap;
using CliWrap.Buffered;

namespace Bisector.Git;

/// <summary>
/// Times Bisector's commit selection next to <c>git log --format=%H</c> on the same repository, checks both list
/// the same commits in the same order, and returns a Markdown table. Meant for the systemd history.
/// </summary>
public static class GitWalkBenchmark
{
    public static async Task<string> RunAsync(string repoPath, CancellationToken ct = default)
    {
        (string Revisions, string[] Paths)[] cases =
        [
            ("v248", ["src/basic/fileio*"]),
            ("v247..v248", ["src/basic/fileio*"]),
            ("v247..v248", ["src/basic/fileio.c"]),
            ("v247..v248", ["src/basic", ":(exclude)src/basic/meson.build"]),
        ];
        var sb = new StringBuilder();
        sb.AppendLine("| revisions | pathspec | commits | Bisector (ms) | git log (ms) | identical |");
        sb.AppendLine("|---|---|---:|---:|---:|---|");
        foreach (var (revisions, paths) in cases)
        {
            ct.ThrowIfCancellationRequested();
            var sw = Stopwatch.StartNew();
            var ours = CommitSelector.Log(repoPath, revisions, paths);
            var oursMs = sw.Elapsed.TotalMilliseconds;

            sw.Restart();
            var git = await CliWrap.Cli.Wrap("git")
                .WithArguments(["--git-dir", repoPath, "log", "--format=%H", .. revisions.Split(' '), "--", .. paths])
                .ExecuteBufferedAsync(ct);
            var gitMs = sw.Elapsed.TotalMilliseconds;
            var theirs = git.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);

            var identical = theirs.SequenceEqual(ours);
            sb.Append(CultureInfo.InvariantCulture,
                $"| `{revisions}` | `{string.Join(' ', paths)}` | {ours.Count} | {oursMs:F0} | {gitMs:F0} | ");
            sb.AppendLine(identical ? "yes |" : $"**no** (git {theirs.Length}) |");
        }
        return sb.ToString();
    }
}
