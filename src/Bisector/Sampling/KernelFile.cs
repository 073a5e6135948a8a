using Microsoft.Win32.SafeHandles;

namespace Bisector.Sampling;

/// <summary>
/// A kernel file (procfs, cgroupfs) kept open and re-read from offset 0 with <c>pread</c>: the kernel regenerates the
/// content on every read at offset 0, so one open per trial replaces one open per sample.
/// </summary>
internal sealed class KernelFile : IDisposable
{
    private readonly SafeFileHandle _handle;

    private KernelFile(string path, SafeFileHandle handle)
    {
        Path = path;
        _handle = handle;
    }

    public string Path { get; }

    public static KernelFile? TryOpen(string path)
    {
        try
        {
            return new KernelFile(path, File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The process exited or the cgroup is gone; the caller treats a missing file as "no reading".
            return null;
        }
    }

    /// <summary>Reads the whole file into <paramref name="buffer"/>; returns the filled part, or empty when the file
    /// vanished (process exited between samples).</summary>
    public ReadOnlySpan<byte> Read(byte[] buffer)
    {
        try
        {
            var length = RandomAccess.Read(_handle, buffer, 0);
            return buffer.AsSpan(0, length);
        }
        catch (IOException)
        {
            return default;
        }
    }

    public void Dispose() => _handle.Dispose();
}
