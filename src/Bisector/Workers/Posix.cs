using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace Bisector.Workers;

/// <summary>The few process primitives .NET does not offer: sending a chosen signal and reading the process tree.</summary>
internal static partial class Posix
{
    public const int SigTerm = 15;
    public const int SigKill = 9;

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int NativeKill(int pid, int signal);

    [DllImport("libc", EntryPoint = "setpriority", SetLastError = true)]
    private static extern int NativeSetPriority(int which, int who, int priority);

    [DllImport("libc", EntryPoint = "getpriority", SetLastError = true)]
    private static extern int NativeGetPriority(int which, int who);

    private const int PrioProcess = 0;
    private const int PrioProcessGroup = 1;

    /// <summary>This process's nice value.</summary>
    public static int OwnNice() => NativeGetPriority(PrioProcess, 0);

    /// <summary>Sets the nice value of every process in group <paramref name="group"/>; false when not allowed (raising
    /// priority needs CAP_SYS_NICE) or the group is gone.</summary>
    public static bool SetGroupNice(int group, int nice) => group > 0 && NativeSetPriority(PrioProcessGroup, group, nice) == 0;

    /// <summary>Sends <paramref name="signal"/>; false when the process is already gone.</summary>
    public static bool Kill(int pid, int signal) => pid > 0 && NativeKill(pid, signal) == 0;

    /// <summary>Sends <paramref name="signal"/> to every process of group <paramref name="group"/> (one this tool made
    /// with setsid); false when the group is gone.</summary>
    public static bool KillGroup(int group, int signal) => group > 1 && NativeKill(-group, signal) == 0;

    public static bool Exists(int pid) => Directory.Exists($"/proc/{pid}");

    /// <summary>True while the process exists and has not exited (a zombie waiting to be reaped has).</summary>
    public static bool IsRunning(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var state = stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[0];
            return state is not ("Z" or "X" or "x");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>The parent PID from /proc/PID/stat, or null when the process is gone. The comm field may contain
    /// spaces and parentheses, so parsing starts after the last ')'.</summary>
    public static int? ReadParent(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return int.Parse(fields[1], CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    public static string? ReadComm(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/comm").TrimEnd('\n');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>
    /// Starts <c>sh ARGS</c> in <paramref name="directory"/> with <paramref name="env"/> on top of this process's
    /// environment, stdin closed and stdout/stderr drained into <paramref name="tail"/> (a chatty child can never block on
    /// a full pipe). setsid gives it a session of its own, so a Ctrl+C in the terminal reaches Bisector (which stops the
    /// trial and records it as Cancelled) and not the child directly. A .NET child is never a process group leader, so
    /// setsid execs sh in place: the PID stays the one started here. <paramref name="worker"/> names the worker in errors.
    /// </summary>
    public static (Process Process, Task OutputEnded) StartShell(
        string worker, string directory, IEnumerable<string> args, IReadOnlyDictionary<string, string?> env, OutputTail tail)
    {
        var info = new ProcessStartInfo("setsid")
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add("sh");
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var (key, value) in env)
        {
            info.Environment[key] = value;
        }

        try
        {
            var process = Process.Start(info) ?? throw new WorkerException(worker, "sh did not start", "check /bin/sh exists");
            process.StandardInput.Close();
            return (process, tail.Attach(process));
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new WorkerException(worker, $"cannot start sh in {directory}: {e.Message}",
                "check the artifact directory exists and /bin/sh is present", e);
        }
    }

    /// <summary>Finds an executable on PATH, as the shell would.</summary>
    public static string? Which(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin")
        .Split(':', StringSplitOptions.RemoveEmptyEntries)
        .Select(dir => Path.Combine(dir, name))
        .FirstOrDefault(File.Exists);
}
