using Bisector.Recipes;

namespace Bisector.Runs;

/// <summary>
/// What a run starts from: the settings after one resolution step (flags over bisect.yaml over the recipe), with the
/// recipe's overridable values already applied and checked. Each error on the way named the source of the bad value
/// (<c>--window</c> exit 2, <c>bisect.yaml:LINE</c> or the recipe's <c>file:line</c> exit 3); nothing is stored before
/// this record exists.
/// </summary>
public sealed record RunSettings(RunOptions Options, Recipe Recipe);
