using System.Reflection;
using Xunit.Abstractions;

[assembly: Xunit.TestCollectionOrderer("Bisector.Tests.LongestFirst", "Bisector.Tests")]

namespace Bisector.Tests;

/// <summary>
/// A test class whose tests together take minutes: <see cref="Seconds"/> is what they took in a whole-suite run on the
/// 2-core CI machine (the TRX file's durations, all four test threads busy). Only the order the classes start in uses
/// it; no test depends on it.
/// </summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class LongRunningAttribute(int seconds) : Attribute
{
    public int Seconds => seconds;
}

/// <summary>
/// Starts the longest test classes first. xunit runs the tests of one class one after another and at most
/// <c>maxParallelThreads</c> tests at once, so a long class started late is the suite's tail: at fb99b87 the demo's
/// end-to-end class (16 min on its own) started 9 minutes in and the suite took 25.5 min where its 65.6 min of tests
/// on 4 threads need about 16.4. Longest first is the classic bound for that schedule (Graham's LPT: within 4/3 of the
/// best makespan); classes without <see cref="LongRunningAttribute"/> follow, by name, so the order is the same every run.
/// </summary>
public sealed class LongestFirst : Xunit.ITestCollectionOrderer
{
    private const string Prefix = "Test collection for ";

    public IEnumerable<ITestCollection> OrderTestCollections(IEnumerable<ITestCollection> testCollections) =>
        testCollections.OrderByDescending(Seconds).ThenBy(c => c.DisplayName, StringComparer.Ordinal);

    /// <summary>The measured seconds of the class a per-class collection holds; 0 for the rest.</summary>
    internal static int Seconds(ITestCollection collection)
    {
        var name = collection.DisplayName;
        if (!name.StartsWith(Prefix, StringComparison.Ordinal))
            return 0;
        name = name[Prefix.Length..];
        var end = name.IndexOfAny([' ', '(']);
        if (end >= 0)
            name = name[..end];
        return typeof(LongestFirst).Assembly.GetType(name)?.GetCustomAttribute<LongRunningAttribute>()?.Seconds ?? 0;
    }
}
