using System.CommandLine;
using Bisector.Workers;

namespace Bisector.Cli;

/// <summary><c>bisector workers check</c>: verifies each configured worker before a run depends on it.</summary>
internal static class WorkersCommand
{
    public static Command Create()
    {
        var workers = new Option<string[]>("--workers") { Description = "Workers to check: local:N, ssh://user@host (default: bisect.yaml, else one local worker per core, at most 4)", AllowMultipleArgumentsPerToken = true };
        var check = new Command("check", "Check that each worker is reachable and can run trials (cgroup, tools, disk)") { workers };
        check.SetAction((parse, ct) => App.GuardAsync(async () =>
        {
            var specs = (parse.GetValue(workers) ?? []).SelectMany(w => w.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();
            if (specs.Count == 0)
            {
                var config = Path.Combine(Directory.GetCurrentDirectory(), "bisect.yaml");
                specs = File.Exists(config) && Recipes.ProjectConfigLoader.Load(config).Workers is { Count: > 0 } fromConfig ? fromConfig.ToList() : [DefaultWorkers.ForThisMachine().Spec];
            }

            var root = Path.Combine(Path.GetTempPath(), $"bisector-check-{Environment.ProcessId}");
            var failed = 0;
            try
            {
                foreach (var worker in WorkerSpecs.Parse(specs, root))
                {
                    await using (worker)
                    {
                        var result = await worker.CheckAsync(ct);
                        failed += result.Ok ? 0 : 1;
                        await Console.Out.WriteLineAsync($"{(result.Ok ? "ok  " : "FAIL")} {result.Worker}");
                        foreach (var finding in result.Findings)
                        {
                            await Console.Out.WriteLineAsync($"     {finding}");
                        }
                    }
                }
            }
            finally
            {
                if (Directory.Exists(root))
                {
                    Directory.Delete(root, recursive: true);
                }
            }

            return failed == 0 ? 0 : 7;
        }));
        return new Command("workers", "Manage and check workers") { check };
    }
}
