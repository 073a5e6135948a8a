namespace Bisector;

/// <summary>The tool's own temporary folders (a run's work root, a Slurm job's folder, a recipe check's scratch).</summary>
internal static class Scratch
{
    /// <summary>
    /// Removes <paramref name="directory"/> if it can. One that cannot be removed yet (a file still held, a worktree a
    /// build still holds) is left for <c>bisector clean</c>: no result depends on it and the next use takes a new folder.
    /// </summary>
    public static void TryDelete(string directory)
    {
        try
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }
}
