using System.Text;
using Bisector.Git;
using LibGit2Sharp;

namespace Bisector.Diagnosis;

/// <summary>The change itself: the culprit's patch against its first parent, limited to the run's pathspec (the
/// files the bisection looked at), capped so a huge commit does not swamp the report.</summary>
public static class CulpritDiff
{
    public const int MaxLines = 400;

    public static string Render(string repositoryPath, string culpritSha, IReadOnlyList<string> paths, int maxLines = MaxLines)
    {
        using var repo = new Repository(repositoryPath);
        var commit = repo.Lookup<LibGit2Sharp.Commit>(culpritSha)
            ?? throw new GitSelectionException($"commit {culpritSha} is not in {repositoryPath}", "Point --repo at the repository the run bisected");
        var parentTree = commit.Parents.FirstOrDefault()?.Tree;
        var pathspec = Pathspec.Parse(paths);
        using var patch = repo.Diff.Compare<Patch>(parentTree, commit.Tree);

        var text = new StringBuilder();
        var lines = 0;
        var omitted = 0;
        foreach (var entry in patch.Where(e => pathspec.IsEmpty || pathspec.Matches(e.Path) || pathspec.Matches(e.OldPath)))
        {
            foreach (var line in entry.Patch.Split('\n'))
            {
                if (lines < maxLines)
                {
                    text.Append(line).Append('\n');
                    lines++;
                }
                else
                {
                    omitted++;
                }
            }
        }

        if (omitted > 0)
            text.Append("… ").Append(omitted).Append(" more line(s); run git show ").Append(culpritSha[..12]).Append(" for the rest\n");
        return text.ToString().TrimEnd('\n');
    }
}
