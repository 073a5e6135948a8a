using System.Text;
using Bisector.Git;

namespace Bisector.Diagnosis;

/// <summary>The change itself: the culprit's patch against its first parent, limited to the run's pathspec (the
/// files the bisection looked at, matched by git as the selection was), capped so a huge commit does not swamp the report.</summary>
public static class CulpritDiff
{
    public const int MaxLines = 400;

    public static async Task<string> RenderAsync(string repositoryPath, string culpritSha, IReadOnlyList<string> paths,
        int maxLines = MaxLines, CancellationToken ct = default)
    {
        var result = await GitCli.TryRunAsync(repositoryPath,
            ["diff-tree", "-p", "--no-color", "--no-ext-diff", "--no-commit-id", "--root", "--diff-merges=first-parent",
                "--end-of-options", culpritSha, "--", .. paths], ct);
        if (result.ExitCode != 0)
            throw new GitSelectionException($"commit {culpritSha}: no diff from {repositoryPath} ({GitCli.StderrTail(result, 2)})",
                "Fix: point --repo at the repository the run bisected");

        var all = result.StandardOutput.TrimEnd('\n').Split('\n');
        var text = new StringBuilder();
        foreach (var line in all.Take(maxLines))
            text.Append(line).Append('\n');
        if (all.Length > maxLines)
            text.Append("… ").Append(all.Length - maxLines).Append(" more line(s); run git show ").Append(culpritSha[..12]).Append(" for the rest\n");
        return text.ToString().TrimEnd('\n');
    }
}
