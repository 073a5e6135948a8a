using System.Globalization;
using CliWrap;
using CliWrap.Buffered;

namespace Bisector.Tests.Git;

/// <summary>
/// A real git repository in a temporary directory, driven through the git CLI. Every commit gets its own committer
/// date one minute after the previous one, so git's date-ordered walk is deterministic.
/// </summary>
internal sealed class TempGitRepo : IAsyncDisposable
{
    private long _clock = 1_600_000_000;

    public string Path { get; }

    private TempGitRepo(string path) => Path = path;

    public static async Task<TempGitRepo> CreateAsync(CancellationToken ct = default)
    {
        var dir = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "bisector-git-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(dir);
        var repo = new TempGitRepo(dir);
        await repo.GitAsync(ct, "init", "--quiet", "--initial-branch=main");
        await repo.GitAsync(ct, "config", "user.name", "Test");
        await repo.GitAsync(ct, "config", "user.email", "test@example.invalid");
        await repo.GitAsync(ct, "config", "commit.gpgsign", "false");
        return repo;
    }

    public void Write(string relativePath, string content)
    {
        var full = System.IO.Path.Combine(Path, relativePath);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        File.WriteAllText(full, content);
    }

    public void Delete(string relativePath) => File.Delete(System.IO.Path.Combine(Path, relativePath));

    /// <summary>Stages everything and commits; returns the new commit id.</summary>
    public async Task<string> CommitAsync(string message, CancellationToken ct = default)
    {
        await GitAsync(ct, "add", "--all");
        await GitAsync(ct, "commit", "--quiet", "--allow-empty", "-m", message);
        return await RevParseAsync("HEAD", ct);
    }

    /// <summary>Writes the files then commits them.</summary>
    public async Task<string> CommitFilesAsync(string message, CancellationToken ct, params (string Path, string? Content)[] files)
    {
        foreach (var (p, c) in files)
            if (c is null) Delete(p);
            else Write(p, c);
        return await CommitAsync(message, ct);
    }

    /// <summary>
    /// A merge commit with an explicit tree: the first parent's tree with <paramref name="fromSecond"/> paths taken
    /// from the second parent and <paramref name="edits"/> applied, so any merge shape can be built without conflicts.
    /// Leaves HEAD detached at the merge.
    /// </summary>
    public async Task<string> MergeAsync(string first, string second, string message, IEnumerable<string> fromSecond,
        CancellationToken ct, params (string Path, string? Content)[] edits)
    {
        await GitAsync(ct, "checkout", "--quiet", "--detach", first);
        foreach (var p in fromSecond)
        {
            var exists = (await GitAsync(ct, "ls-tree", "--name-only", second, "--", p)).Trim().Length > 0;
            if (exists) await GitAsync(ct, "checkout", second, "--", p);
            else if (File.Exists(System.IO.Path.Combine(Path, p))) await GitAsync(ct, "rm", "--quiet", "--", p);
        }
        foreach (var (p, c) in edits)
            if (c is null) Delete(p);
            else Write(p, c);
        await GitAsync(ct, "add", "--all");
        var tree = (await GitAsync(ct, "write-tree")).Trim();
        var merge = (await GitAsync(ct, "commit-tree", tree, "-p", first, "-p", second, "-m", message)).Trim();
        await GitAsync(ct, "checkout", "--quiet", "--detach", merge);
        return merge;
    }

    public async Task<string> RevParseAsync(string rev, CancellationToken ct = default) =>
        (await GitAsync(ct, "rev-parse", rev)).Trim();

    /// <summary><c>git log --format=%H args</c>, newest first.</summary>
    public async Task<IReadOnlyList<string>> LogAsync(CancellationToken ct, params string[] args) =>
        (await GitAsync(ct, ["log", "--format=%H", .. args]))
        .Split('\n', StringSplitOptions.RemoveEmptyEntries);

    public Task<string> GitAsync(CancellationToken ct, params string[] args) => GitWithDateAsync(ct, args);

    private async Task<string> GitWithDateAsync(CancellationToken ct, string[] args)
    {
        var creates = args.Length > 0 && args[0] is "commit" or "commit-tree" or "tag" or "merge";
        if (creates) _clock += 60;
        var date = _clock.ToString(CultureInfo.InvariantCulture) + " +0000";
        var result = await CliWrap.Cli.Wrap("git")
            .WithArguments(args)
            .WithWorkingDirectory(Path)
            .WithEnvironmentVariables(e => e
                .Set("GIT_AUTHOR_DATE", date)
                .Set("GIT_COMMITTER_DATE", date)
                .Set("GIT_CONFIG_GLOBAL", "/dev/null")
                .Set("GIT_CONFIG_NOSYSTEM", "1"))
            .WithValidation(CommandResultValidation.None)
            .ExecuteBufferedAsync(ct);
        if (result.ExitCode != 0)
            throw new InvalidOperationException($"git {string.Join(' ', args)} failed ({result.ExitCode}): {result.StandardError}");
        return result.StandardOutput;
    }

    /// <summary>Sets the clock used for the next commits, e.g. to fake clock skew.</summary>
    public void SetClock(long unixSeconds) => _clock = unixSeconds;

    public ValueTask DisposeAsync()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
        return ValueTask.CompletedTask;
    }
}
