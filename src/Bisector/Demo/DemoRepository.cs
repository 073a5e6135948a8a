using System.Globalization;
using System.Text;
using CliWrap;
using CliWrap.Buffered;

namespace Bisector.Demo;

/// <summary>
/// A generated git repository of the demo daemon with one known regression between <see cref="GoodRef"/> and
/// <see cref="BadRef"/>. Authors, committers and dates are fixed, so the same scenario always yields the same SHAs.
/// </summary>
/// <param name="Path">The repository's work tree.</param>
/// <param name="GoodRef">Tag of the known-good release (<c>v1.0</c>).</param>
/// <param name="BadRef">Tag of the known-bad release (<c>v1.1</c>).</param>
/// <param name="Paths">Default pathspecs: the code the regression is suspected in.</param>
/// <param name="CulpritSha">Full SHA of the commit that introduced the regression.</param>
/// <param name="CulpritSubject">Subject line of that commit.</param>
/// <param name="CandidateCount">Commits listed by <c>git log GoodRef..BadRef -- Paths</c>.</param>
/// <param name="CommitsInRange">All commits in <c>GoodRef..BadRef</c>, merges included.</param>
public sealed record DemoRepository(
    string Path,
    DemoScenario Scenario,
    string GoodRef,
    string BadRef,
    IReadOnlyList<string> Paths,
    string CulpritSha,
    string CulpritSubject,
    int CandidateCount,
    int CommitsInRange)
{
    /// <summary>Known changes after the culprit (full SHAs), oldest first: the scan for further changes must report
    /// them (<see cref="DemoScenario.TwoChanges"/>); empty for single-change scenarios.</summary>
    public IReadOnlyList<string> FurtherChangeShas { get; init; } = [];

    private static readonly DateTimeOffset FirstCommitAt = new(2024, 3, 4, 9, 0, 0, TimeSpan.Zero);

    // Irregular but fixed spacing, so the log looks like people working and the dates stay deterministic.
    private static readonly TimeSpan[] Gaps =
        [TimeSpan.FromMinutes(197), TimeSpan.FromMinutes(43), TimeSpan.FromHours(19), TimeSpan.FromMinutes(71), TimeSpan.FromHours(2.5)];

    /// <summary>
    /// Creates the demo repository in <paramref name="directory"/> (which must be missing or empty) with the git CLI.
    /// </summary>
    /// <exception cref="UsageException">The directory exists and is not empty.</exception>
    /// <exception cref="ProcessFailedException">git failed.</exception>
    public static async Task<DemoRepository> CreateAsync(
        string directory,
        DemoScenario scenario = DemoScenario.Fragmentation,
        CancellationToken ct = default)
    {
        var path = System.IO.Path.GetFullPath(directory);
        if (Directory.Exists(path) && Directory.EnumerateFileSystemEntries(path).Any())
            throw new UsageException("demo directory", $"'{path}' exists and is not empty",
                "Pass a new or empty directory for the demo repository");
        Directory.CreateDirectory(path);

        var git = new DemoGit(path);
        var at = FirstCommitAt;
        var step = 0;
        string? culpritSha = null, culpritSubject = null;
        var further = new List<string>();

        await git.RunAsync(["init", "-q", "-b", DemoHistory.MainBranch], at, DemoHistoryAuthor, ct);
        foreach (var action in DemoHistory.For(scenario))
        {
            switch (action)
            {
                case CommitAction commit:
                    foreach (var edit in commit.Edits)
                        await ApplyAsync(path, edit, ct);
                    await git.RunAsync(["add", "-A"], at, commit.Author, ct);
                    await git.RunAsync(["commit", "-q", "-m", commit.Subject], at, commit.Author, ct);
                    if (commit.IsCulprit)
                    {
                        culpritSha = await git.ReadAsync(["rev-parse", "HEAD"], ct);
                        culpritSubject = commit.Subject;
                    }
                    if (commit.IsFurtherChange)
                        further.Add(await git.ReadAsync(["rev-parse", "HEAD"], ct));
                    at += Gaps[step++ % Gaps.Length];
                    break;
                case BranchAction branch:
                    await git.RunAsync(branch.Create ? ["checkout", "-q", "-b", branch.Branch] : ["checkout", "-q", branch.Branch], at, DemoHistoryAuthor, ct);
                    break;
                case MergeAction merge:
                    await git.RunAsync(["merge", "-q", "--no-ff", "-m", merge.Subject, merge.Branch], at, merge.Author, ct);
                    at += Gaps[step++ % Gaps.Length];
                    break;
                case TagAction tag:
                    await git.RunAsync(["tag", tag.Tag], at, DemoHistoryAuthor, ct);
                    break;
            }
        }

        if (culpritSha is null || culpritSubject is null)
            throw new InvalidOperationException($"Demo history for {scenario} has no culprit commit.");

        var range = $"{DemoHistory.GoodTag}..{DemoHistory.BadTag}";
        var candidates = await git.ReadAsync(["rev-list", "--count", range, "--", DemoHistory.Pathspec], ct);
        var inRange = await git.ReadAsync(["rev-list", "--count", range], ct);
        return new DemoRepository(
            path, scenario, DemoHistory.GoodTag, DemoHistory.BadTag, [DemoHistory.Pathspec], culpritSha, culpritSubject,
            int.Parse(candidates, CultureInfo.InvariantCulture), int.Parse(inRange, CultureInfo.InvariantCulture))
        { FurtherChangeShas = further };
    }

    private static readonly Author DemoHistoryAuthor = new("Ada Okafor", "ada.okafor@example.org");

    private static async Task ApplyAsync(string root, FileEdit edit, CancellationToken ct)
    {
        var file = System.IO.Path.Combine(root, edit.Path);
        var current = File.Exists(file) ? await File.ReadAllTextAsync(file, ct) : null;
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(file)!);
        await File.WriteAllTextAsync(file, edit.Apply(current), new UTF8Encoding(false), ct);
    }
}

/// <summary>Runs git in the demo repository with an environment that makes every commit reproducible.</summary>
internal sealed class DemoGit(string workTree)
{
    public async Task RunAsync(IReadOnlyList<string> args, DateTimeOffset at, Author author, CancellationToken ct)
    {
        var date = at.ToString("yyyy-MM-dd'T'HH:mm:ssK", CultureInfo.InvariantCulture);
        await ExecuteAsync(args, new Dictionary<string, string?>
        {
            ["GIT_AUTHOR_NAME"] = author.Name,
            ["GIT_AUTHOR_EMAIL"] = author.Email,
            ["GIT_AUTHOR_DATE"] = date,
            ["GIT_COMMITTER_NAME"] = author.Name,
            ["GIT_COMMITTER_EMAIL"] = author.Email,
            ["GIT_COMMITTER_DATE"] = date,
        }, ct);
    }

    public async Task<string> ReadAsync(IReadOnlyList<string> args, CancellationToken ct) =>
        (await ExecuteAsync(args, new Dictionary<string, string?>(), ct)).Trim();

    private async Task<string> ExecuteAsync(IReadOnlyList<string> args, Dictionary<string, string?> env, CancellationToken ct)
    {
        // The user's and the system's git configuration (signing, hooks, templates, autocrlf) must not change the SHAs.
        env["GIT_CONFIG_GLOBAL"] = "/dev/null";
        env["GIT_CONFIG_NOSYSTEM"] = "1";
        env["GIT_TEMPLATE_DIR"] = "";
        env["LC_ALL"] = "C";
        var result = await CliWrap.Cli.Wrap("git")
            .WithArguments(args)
            .WithWorkingDirectory(workTree)
            .WithEnvironmentVariables(env)
            .WithValidation(CommandResultValidation.None)
            .ExecuteBufferedAsync(ct);
        if (result.ExitCode != 0)
        {
            throw new ProcessFailedException("git " + string.Join(' ', args), result.ExitCode, workTree, ProcessFailedException.TailOf(result.StandardError, 10));
        }
        return result.StandardOutput;
    }
}
