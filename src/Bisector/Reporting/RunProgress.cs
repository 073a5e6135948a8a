using Spectre.Console;
using static Bisector.Reporting.ReportFacts;

namespace Bisector.Reporting;

/// <summary>
/// Progress for long work (building, trials, report rendering). On an interactive ANSI terminal it is a live Spectre
/// progress display; otherwise every change is one timestamped plain line, because a redirected log must show what
/// happened and a live display would only leave escape codes in it.
/// </summary>
public sealed class RunProgress
{
    private readonly IAnsiConsole _console;
    private readonly ProgressContext? _context;
    private readonly TimeProvider _clock;
    private readonly Lock _gate = new();

    private RunProgress(IAnsiConsole console, ProgressContext? context, TimeProvider clock)
    {
        _console = console;
        _context = context;
        _clock = clock;
    }

    /// <summary>True when this progress draws a live display rather than writing lines.</summary>
    public bool IsLive => _context is not null;

    public static bool CanBeLive(IAnsiConsole console) =>
        console.Profile.Capabilities.Interactive && console.Profile.Capabilities.Ansi;

    public static async Task<T> RunAsync<T>(IAnsiConsole console, Func<RunProgress, Task<T>> work, TimeProvider? clock = null)
    {
        clock ??= TimeProvider.System;
        if (!CanBeLive(console))
            return await work(new RunProgress(console, null, clock));

        return await console.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(),
                new ElapsedTimeColumn(), new SpinnerColumn())
            .StartAsync(ctx => work(new RunProgress(console, ctx, clock)));
    }

    public static Task RunAsync(IAnsiConsole console, Func<RunProgress, Task> work, TimeProvider? clock = null) =>
        RunAsync<bool>(console, async p =>
        {
            await work(p);
            return true;
        }, clock);

    /// <summary>Adds a step, e.g. "build 12 commits" with total 12. Safe to call from parallel workers.</summary>
    public ProgressStep AddStep(string description, double total)
    {
        lock (_gate)
        {
            var task = _context?.AddTask(Markup.Escape(description), maxValue: Math.Max(total, 1));
            var step = new ProgressStep(this, description, total, task);
            if (task is null)
                Line($"{description}: started (0/{F(total, "0.##")})");
            return step;
        }
    }

    /// <summary>A one-off message that does not belong to a step (a warning, a decision the search made).</summary>
    public void Note(string message)
    {
        lock (_gate)
        {
            if (_context is null)
                Line(message);
            else
                _console.MarkupLine(Markup.Escape(message));
        }
    }

    internal void Report(ProgressStep step, string? note, bool done)
    {
        lock (_gate)
        {
            if (step.Task is { } t)
            {
                t.Value = Math.Min(step.Value, t.MaxValue);
                t.Description = Markup.Escape(note is null ? step.Description : $"{step.Description}: {OneLine(note, 60)}");
                if (done)
                    t.StopTask();
                return;
            }

            var tail = note is null ? "" : " " + OneLine(note);
            Line($"{step.Description}: {(done ? "done " : "")}{F(step.Value, "0.##")}/{F(step.Total, "0.##")}{tail}");
        }
    }

    private void Line(string text) =>
        _console.WriteLine($"[{_clock.GetLocalNow().ToString("HH:mm:ss", Inv)}] {text}", Style.Plain);
}

/// <summary>One line of progress: advanced by the work as it goes, completed once.</summary>
public sealed class ProgressStep
{
    private readonly RunProgress _owner;
    private double _value;

    internal ProgressStep(RunProgress owner, string description, double total, ProgressTask? task)
    {
        _owner = owner;
        Description = description;
        Total = total;
        Task = task;
    }

    public string Description { get; }

    public double Total { get; }

    public double Value => Volatile.Read(ref _value);

    public bool IsCompleted { get; private set; }

    internal ProgressTask? Task { get; }

    public void Advance(double amount = 1, string? note = null)
    {
        InterlockedAdd(amount);
        _owner.Report(this, note, done: false);
    }

    public void Complete(string? note = null)
    {
        if (IsCompleted)
            return;
        IsCompleted = true;
        _owner.Report(this, note, done: true);
    }

    private void InterlockedAdd(double amount)
    {
        double seen, next;
        do
        {
            seen = Volatile.Read(ref _value);
            next = seen + amount;
        }
        while (Interlocked.CompareExchange(ref _value, next, seen) != seen);
    }
}
