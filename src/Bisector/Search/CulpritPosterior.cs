namespace Bisector.Search;

/// <summary>
/// The probability that each position 1..N is the first bad commit, assuming one change: positions before it look like
/// the good anchor, positions from it on look like the bad end. Each trial is scored against both anchors with a
/// Student-t (ν = 3) likelihood centred on the anchors' medians with their pooled MAD as scale — heavy tails so one
/// wild trial cannot decide, and the scale is widened for the uncertainty of the anchors' own medians. Unmeasured and
/// skipped positions carry no evidence, so the posterior is flat across them. Uniform prior.
/// </summary>
public static class CulpritPosterior
{
    public static double[] Compute(int candidateCount, IReadOnlyList<double> good, IReadOnlyList<double> bad,
        Func<int, IReadOnlyList<double>> valuesAt)
    {
        var n = candidateCount;
        var post = new double[n];
        var g = good.Where(double.IsFinite).ToArray();
        var b = bad.Where(double.IsFinite).ToArray();
        if (g.Length == 0 || b.Length == 0)
        {
            Array.Fill(post, 1.0 / n);
            return post;
        }
        var muG = Statistics.Robust.Median(g);
        var muB = Statistics.Robust.Median(b);
        var scale = 1.4826 * Statistics.Robust.Median(g.Select(x => Math.Abs(x - muG)).Concat(b.Select(x => Math.Abs(x - muB))).ToArray());
        // Quantised or constant anchors have no spread; fall back to a fraction of the gap so scores stay finite.
        if (!(scale > 0))
            scale = Math.Max(Math.Abs(muB - muG) / 4, 1e-12 * Math.Max(1, Math.Abs(muG)));
        scale *= Math.Sqrt(1 + 1.0 / Math.Min(g.Length, b.Length));

        // logPost[c] = Σ_{i=c}^{N-1} log LR_i(bad vs good); position N is the bad end itself.
        var logPost = new double[n + 1];
        for (var i = n - 1; i >= 1; i--)
        {
            double ll = 0;
            foreach (var x in valuesAt(i))
            {
                if (!double.IsFinite(x)) continue;
                ll += LogT3((x - muB) / scale) - LogT3((x - muG) / scale);
            }
            logPost[i] = logPost[i + 1] + ll;
        }
        var max = double.NegativeInfinity;
        for (var c = 1; c <= n; c++) max = Math.Max(max, logPost[c]);
        double sum = 0;
        for (var c = 1; c <= n; c++) { post[c - 1] = Math.Exp(logPost[c] - max); sum += post[c - 1]; }
        for (var c = 0; c < n; c++) post[c] /= sum;
        return post;
    }

    private static double LogT3(double z) => -2 * Math.Log(1 + z * z / 3);
}
