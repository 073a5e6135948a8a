using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Bisector.Git;
using Bisector.Recipes;
using CliWrap;

namespace Bisector.Building;

/// <summary>
/// Builds commits per a recipe and caches the artifacts by (recipe hash, commit SHA), so a commit is never built twice
/// for the same recipe — across runs too. A failed build is a result (the commit is skipped), not an exception.
/// </summary>
public sealed class Builder
{
    private const int MaxLogChars = 256 * 1024;
    private const string Marker = ".bisector-artifact";
    private readonly string _repositoryPath;
    private readonly Recipe _recipe;
    private readonly string _cacheDirectory;
    private readonly string _scratchDirectory;
    private readonly SemaphoreSlim _incrementalTree = new(1, 1);

    public Builder(string repositoryPath, Recipe recipe, string cacheRoot, string scratchRoot)
    {
        _repositoryPath = repositoryPath;
        _recipe = recipe;
        _cacheDirectory = Path.Combine(cacheRoot, recipe.Hash[..16]);
        _scratchDirectory = scratchRoot;
    }

    /// <summary>Where a commit's artifact lives once built; used to find cached builds without building.</summary>
    public string ArtifactDirectory(string sha) => Path.Combine(_cacheDirectory, sha);

    public Artifact? TryGetCached(string sha)
    {
        var directory = ArtifactDirectory(sha);
        var marker = Path.Combine(directory, Marker);
        return File.Exists(marker) ? new Artifact(sha, _recipe.Hash, directory, File.ReadAllText(marker).Trim()) : null;
    }

    /// <param name="priority">Null: the run's own priority; a build ahead passes <see cref="BuildPriority.Background"/>.</param>
    public async Task<BuildResult> BuildAsync(Commit commit, CancellationToken ct = default, BuildPriority? priority = null)
    {
        if (TryGetCached(commit.Sha) is { } cached)
        {
            return new BuildResult(commit.Sha, BuildStatus.Cached, cached with { Fingerprint = await CachedFingerprintAsync(cached.Directory, ct), Links = await LinkedLibraries.ReadAsync(cached.Directory, ct) },
                "(cached build)", TimeSpan.Zero, []);
        }

        return await BuildTreeAsync(commit.Sha, commit, _recipe.Build.Mode == BuildMode.Incremental, null, ct, priority);
    }

    /// <summary>The cache key of <paramref name="onto"/> with <paramref name="culprit"/> reverted: it names two commits
    /// and starts with a word, so it can never be a commit's SHA (the key of every other build).</summary>
    public static string RevertKey(Commit culprit, Commit onto) => $"revert-{culprit.Sha}-on-{onto.Sha}";

    /// <summary>
    /// Builds <paramref name="onto"/> with <paramref name="culprit"/> reverted (<c>git revert --no-commit</c>) in a fresh
    /// worktree — also for an incremental recipe, whose tree holds another commit's objects — with the recipe's patches,
    /// fix-ups and steps, and caches it under <see cref="RevertKey"/>. A revert that does not apply is a failed build
    /// whose <see cref="RevertBuild.Applied"/> names the conflicting files.
    /// </summary>
    public async Task<RevertBuild> BuildRevertAsync(Commit onto, Commit culprit, CancellationToken ct = default)
    {
        var key = RevertKey(culprit, onto);
        if (TryGetCached(key) is { } cached)
        {
            // Only a clean revert is ever cached.
            return new RevertBuild(new RevertApplication(GitRevert.CommandLine(culprit), [], null),
                new BuildResult(key, BuildStatus.Cached, cached, "(cached build)", TimeSpan.Zero, []));
        }

        RevertApplication? applied = null;
        var build = await BuildTreeAsync(key, onto, incremental: false, async (tree, log, token) =>
        {
            log.Line("$ " + GitRevert.CommandLine(culprit));
            applied = await GitRevert.ApplyAsync(tree, culprit, token);
            if (applied.Clean)
                return null;
            log.Line(applied.Message!);
            return applied.Conflicts.Count > 0
                ? $"the revert of {culprit.ShortSha} does not apply cleanly to {onto.ShortSha}: conflicts in {string.Join(", ", applied.Conflicts)}"
                : $"the revert of {culprit.ShortSha} does not apply to {onto.ShortSha}: {applied.Message}";
        }, ct);
        return new RevertBuild(applied, build);
    }

    /// <summary>Checks <paramref name="commit"/> out (the incremental tree or a new worktree), lets
    /// <paramref name="afterCheckout"/> change the tree (null or a reason it failed), then runs the recipe's patches,
    /// fix-ups and steps and caches the artifacts under <paramref name="key"/>.</summary>
    private async Task<BuildResult> BuildTreeAsync(
        string key, Commit commit, bool incremental, Func<string, BuildLog, CancellationToken, Task<string?>>? afterCheckout, CancellationToken ct,
        BuildPriority? priority = null)
    {
        var log = new BuildLog();
        var fixUps = new List<string>();
        var stopwatch = Stopwatch.StartNew();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(_recipe.Build.Timeout);

        if (incremental)
        {
            await _incrementalTree.WaitAsync(ct);
        }

        string tree = incremental
            ? Path.Combine(_scratchDirectory, $"tree-{_recipe.Hash[..12]}")
            : Path.Combine(_scratchDirectory, $"wt-{commit.ShortSha}-{Guid.NewGuid():N}"[..40]);
        try
        {
            Directory.CreateDirectory(_scratchDirectory);
            if (incremental && Directory.Exists(tree))
            {
                log.Line($"$ git checkout --force --detach {commit.Sha}   (incremental tree {tree})");
                await GitWorktree.CheckoutAsync(tree, commit.Sha, timeout.Token);
            }
            else
            {
                log.Line($"$ git worktree add --detach {tree} {commit.Sha}");
                await GitWorktree.AddDetachedAsync(_repositoryPath, tree, commit.Sha, _recipe.Build.SparseExclude, timeout.Token);
            }

            if (afterCheckout is not null && await afterCheckout(tree, log, timeout.Token) is { } refused)
            {
                return Failed(BuildStatus.Failed, refused);
            }

            var environment = BuildEnvironment(commit, tree);
            foreach (var patch in _recipe.Build.Patches)
            {
                fixUps.Add($"patch {Path.GetFileName(patch)}");
                var ok = await RunStepAsync($"git apply --whitespace=nowarn {ShellQuote(patch)}", tree, environment, log, priority, timeout.Token);
                if (!ok)
                {
                    return Failed(BuildStatus.Failed, $"patch '{patch}' does not apply to {commit.ShortSha}");
                }
            }

            foreach (var step in _recipe.Build.Prepare)
            {
                fixUps.Add(step);
                if (!await RunStepAsync(step, tree, environment, log, priority, timeout.Token))
                {
                    return Failed(BuildStatus.Failed, $"fix-up command failed: {step}");
                }
            }

            foreach (var step in _recipe.Build.Steps)
            {
                if (!await RunStepAsync(step, tree, environment, log, priority, timeout.Token))
                {
                    return Failed(BuildStatus.Failed, $"build step failed: {step}");
                }
            }

            var artifact = await CollectAsync(key, tree, log, ct);
            return artifact is null
                ? Failed(BuildStatus.Failed, "the build did not produce every artifact the recipe lists")
                : new BuildResult(key, BuildStatus.Built, artifact, log.ToString(), stopwatch.Elapsed, fixUps);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            return Failed(BuildStatus.TimedOut, $"build exceeded the recipe's timeout of {_recipe.Build.Timeout}");
        }
        catch (ProcessFailedException e)
        {
            return Failed(BuildStatus.Failed, e.Message);
        }
        finally
        {
            if (!incremental)
            {
                await GitWorktree.RemoveAsync(_repositoryPath, tree, CancellationToken.None);
            }

            if (incremental)
            {
                _incrementalTree.Release();
            }
        }

        BuildResult Failed(BuildStatus status, string why)
        {
            log.Line($"bisector: {why}");
            return new BuildResult(key, status, null, log.ToString(), stopwatch.Elapsed, fixUps);
        }
    }

    private Dictionary<string, string?> BuildEnvironment(Commit commit, string tree)
    {
        var environment = new Dictionary<string, string?>(StringComparer.Ordinal)
        {
            ["BISECTOR_COMMIT"] = commit.Sha,
            ["BISECTOR_SRC"] = tree,
            ["BISECTOR_RECIPE_DIR"] = Path.GetDirectoryName(Path.GetFullPath(_recipe.SourceFile)),
        };
        foreach (var (key, value) in _recipe.Build.Env)
        {
            environment[key] = value;
        }

        return environment;
    }

    private static async Task<bool> RunStepAsync(
        string step, string tree, IReadOnlyDictionary<string, string?> environment, BuildLog log, BuildPriority? priority, CancellationToken ct)
    {
        log.Line($"$ {step}");
        var (command, low) = priority?.Wrap(step) ?? (["/bin/sh", "-c", step], false);
        var task = CliWrap.Cli.Wrap(command[0])
            .WithArguments(command.Skip(1))
            .WithWorkingDirectory(tree)
            .WithEnvironmentVariables(environment)
            .WithStandardOutputPipe(PipeTarget.ToDelegate(log.Line))
            .WithStandardErrorPipe(PipeTarget.ToDelegate(log.Line))
            .WithValidation(CommandResultValidation.None)
            .ExecuteAsync(ct);
        priority?.Started(task.ProcessId, low);
        CommandResult result;
        try
        {
            result = await task;
        }
        finally
        {
            priority?.Ended(task.ProcessId);
        }

        if (result.ExitCode != 0)
        {
            log.Line($"(exit code {result.ExitCode})");
        }

        return result.ExitCode == 0;
    }

    /// <summary>Copies the artifacts into a temporary folder and renames it into place, so a crash never leaves a
    /// half-copied artifact that looks complete.</summary>
    private async Task<Artifact?> CollectAsync(string key, string tree, BuildLog log, CancellationToken ct)
    {
        var staging = Path.Combine(_cacheDirectory, $".staging-{key[..12]}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(staging);
        var files = new List<string>();
        foreach (var pattern in _recipe.Build.Artifacts)
        {
            var matches = Expand(tree, pattern);
            if (matches.Count == 0)
            {
                log.Line($"bisector: artifact '{pattern}' was not produced");
                Directory.Delete(staging, recursive: true);
                return null;
            }

            foreach (var source in matches)
            {
                var relative = Path.GetRelativePath(tree, source);
                var target = Path.Combine(staging, relative);
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                File.Copy(source, target, overwrite: true);
                files.Add(relative);
            }
        }

        var contentHash = await HashAsync(staging, files, ct);
        var fingerprint = await BuildFingerprint.ComputeAsync(staging, files, ct);
        await File.WriteAllTextAsync(Path.Combine(staging, BuildFingerprint.MarkerFile), fingerprint, ct);
        await File.WriteAllTextAsync(Path.Combine(staging, Marker), contentHash, ct);
        var final = ArtifactDirectory(key);
        if (Directory.Exists(final))
        {
            Directory.Delete(final, recursive: true);
        }

        Directory.Move(staging, final);
        log.Line($"bisector: cached {files.Count} artifact file(s) in {final} (sha256 {contentHash[..16]}, code and data {fingerprint[..16]})");
        return new Artifact(key, _recipe.Hash, final, contentHash) { Fingerprint = fingerprint, Links = await LinkedLibraries.ReadAsync(final, ct) };
    }

    /// <summary>A cached artifact's fingerprint; one cached before fingerprints existed gets it now (its marker is
    /// written last, so it is complete).</summary>
    private static async Task<string> CachedFingerprintAsync(string directory, CancellationToken ct)
    {
        var file = Path.Combine(directory, BuildFingerprint.MarkerFile);
        if (File.Exists(file))
        {
            return (await File.ReadAllTextAsync(file, ct)).Trim();
        }

        var files = Directory.GetFiles(directory, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(directory, f))
            .Where(f => f != Marker && f != BuildFingerprint.MarkerFile);
        var fingerprint = await BuildFingerprint.ComputeAsync(directory, files, ct);
        await File.WriteAllTextAsync(file, fingerprint, ct);
        return fingerprint;
    }

    private static List<string> Expand(string tree, string pattern)
    {
        var full = Path.Combine(tree, pattern);
        if (!pattern.Contains('*') && !pattern.Contains('?'))
        {
            return File.Exists(full) ? [full] : [];
        }

        var directory = Path.GetDirectoryName(full)!;
        return Directory.Exists(directory)
            ? Directory.GetFiles(directory, Path.GetFileName(full)).Order(StringComparer.Ordinal).ToList()
            : [];
    }

    private static async Task<string> HashAsync(string root, IEnumerable<string> files, CancellationToken ct)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var relative in files.Order(StringComparer.Ordinal))
        {
            hash.AppendData(Encoding.UTF8.GetBytes(relative + "\0"));
            hash.AppendData(await File.ReadAllBytesAsync(Path.Combine(root, relative), ct));
        }

        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    internal static string ShellQuote(string value) => "'" + value.Replace("'", "'\\''") + "'";

    /// <summary>A build log that keeps its tail when a build is very chatty.</summary>
    private sealed class BuildLog
    {
        private readonly StringBuilder _text = new();
        private readonly Lock _gate = new();

        public void Line(string line)
        {
            lock (_gate)
            {
                _text.Append(line).Append('\n');
                if (_text.Length > MaxLogChars)
                {
                    _text.Remove(0, _text.Length - (MaxLogChars * 3 / 4));
                }
            }
        }

        public override string ToString()
        {
            lock (_gate)
            {
                return _text.ToString();
            }
        }
    }
}

/// <summary>A build of one commit with another reverted: what the revert did (null when the tree could not even be
/// checked out) and the build that followed (failed at once when the revert did not apply).</summary>
public sealed record RevertBuild(Git.RevertApplication? Applied, BuildResult Build);
