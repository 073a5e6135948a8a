using System.Diagnostics;

namespace Bisector.Workers;

/// <summary>Keeps the last lines a process wrote, so a failed trial can say why without storing whole logs.</summary>
internal sealed class OutputTail(int maxLines = 30)
{
    private readonly Queue<string> _lines = new();
    private readonly Lock _gate = new();

    public void Attach(Process process)
    {
        process.OutputDataReceived += (_, e) => Add(e.Data);
        process.ErrorDataReceived += (_, e) => Add(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

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
