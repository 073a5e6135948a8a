using System.Diagnostics;

namespace Bisector.Workers;

/// <summary>Keeps the last lines a process wrote, so a failed trial can say why without storing whole logs.</summary>
internal sealed class OutputTail(int maxLines = 30)
{
    private readonly Queue<string> _lines = new();
    private readonly Lock _gate = new();

    /// <summary>Reads both of the process's output streams into the tail; the task completes when both have ended.</summary>
    public Task Attach(Process process)
    {
        var open = 2;
        var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void Received(string? line)
        {
            if (line is not null)
            {
                Add(line);
            }
            else if (Interlocked.Decrement(ref open) == 0)
            {
                ended.TrySetResult();
            }
        }

        process.OutputDataReceived += (_, e) => Received(e.Data);
        process.ErrorDataReceived += (_, e) => Received(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return ended.Task;
    }

    /// <summary>Waits (bounded: a background child may hold a pipe open until clean-up kills it) until
    /// <paramref name="ended"/>, so the last lines of an exited process are in the tail before it is quoted.</summary>
    public static async Task SettleAsync(Task ended) =>
        await Task.WhenAny(ended, Task.Delay(TimeSpan.FromSeconds(1)));

    public void Add(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_gate)
        {
            _lines.Enqueue(line.Length > 500 ? line[..500] + "…" : line);
            while (_lines.Count > maxLines)
            {
                _lines.Dequeue();
            }
        }
    }

    public override string ToString()
    {
        lock (_gate)
        {
            return _lines.Count == 0 ? "(no output)" : string.Join('\n', _lines);
        }
    }
}
