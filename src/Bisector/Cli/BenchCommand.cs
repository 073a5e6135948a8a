using System.CommandLine;
using Bisector.Git;
using Bisector.Search.Simulation;

namespace Bisector.Cli;

/// <summary>
/// <c>bisector bench …</c>: the speed and quality goals are measured here, never as timed assertions in tests.
/// Each sub-command prints a Markdown section for docs/benchmarks.md.
/// </summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var seeds = new Option<int>("--seeds") { Description = "Seeds per setting (default 200)", DefaultValueFactory = _ => 200 };
        var sizes = new Option<int[]>("--sizes") { Description = "Candidate counts to simulate (default 10 100 1000)", AllowMultipleArgumentsPerToken = true };
        var share = new Option<double>("--min-effect-share")
        {
            Description = "Bisector's min-effect as a share of the simulated 1-IQR effect (default 1: the size Pinpoint's thresholds are built for)",
            DefaultValueFactory = _ => 1.0,
        };
        share.Validators.Add(r =>
        {
            if (r.GetValue(share) is <= 0 or > 10)
                r.AddError("--min-effect-share: must be in (0, 10]; e.g. 1 (the effect itself) or 0.5 (half of it)");
        });
        var firstSeed = new Option<int>("--first-seed") { Description = "First seed (default 1); another range checks a result is not owed to one set of seeds", DefaultValueFactory = _ => 1 };
        var search = new Command("search", "Culprit accuracy, A/A false positives, trials and rounds on seeded simulations, against git-bisect and Pinpoint-like baselines") { seeds, sizes, share, firstSeed };
        search.SetAction((parse, ct) => App.GuardAsync(async () =>
        {
            var chosen = parse.GetValue(sizes) is { Length: > 0 } s ? s : null;
            await Console.Out.WriteLineAsync(await SearchBenchmark.RunAsync(new BenchmarkOptions(Seeds: parse.GetValue(seeds), Sizes: chosen, MinEffectShare: parse.GetValue(share), FirstSeed: parse.GetValue(firstSeed)), ct));
            return 0;
        }));

        var repo = new Argument<string>("repository") { Description = "A git repository with systemd's history (tags v247, v248)" };
        var git = new Command("git", "Path-filtered walk time of Bisector vs git log on a large history") { repo };
        git.SetAction((parse, ct) => App.GuardAsync(async () =>
        {
            await Console.Out.WriteLineAsync(await GitWalkBenchmark.RunAsync(parse.GetValue(repo)!, ct));
            return 0;
        }));

        var repeats = new Option<int>("--repeats") { Description = "Alternating runs per setting (default 7)", DefaultValueFactory = _ => 7 };
        var heap = new Command("heap-counters", "CPU cost of the heapstats LD_PRELOAD shim on an allocation-bound program") { repeats };
        heap.SetAction((parse, ct) => App.GuardAsync(async () =>
        {
            await Console.Out.WriteLineAsync(await Diagnosis.HeapShimBenchmark.RunAsync(parse.GetValue(repeats), ct: ct));
            return 0;
        }));


        var counts = new Option<int[]>("--counts") { Description = "Local worker counts to time (default 1 2 4)", AllowMultipleArgumentsPerToken = true };
        var samplerSeconds = new Option<int>("--sampler-seconds") { Description = "Window of the sampler CPU measurement (default 30)", DefaultValueFactory = _ => 30 };
        var workers = new Command("workers", "Wall time to the demo culprit with 1, 2 and 4 local workers; remote sampler CPU at 10 Hz") { counts, samplerSeconds };
        workers.SetAction((parse, ct) => App.GuardAsync(async () =>
        {
            var chosen = parse.GetValue(counts) is { Length: > 0 } c ? c : [1, 2, 4];
            await Console.Out.WriteLineAsync(await WorkerBenchmark.RunAsync(chosen, TimeSpan.FromSeconds(parse.GetValue(samplerSeconds)), ct));
            return 0;
        }));

        return new Command("bench", "Benchmarks whose results go into docs/benchmarks.md") { search, git, heap, workers };
    }
}
