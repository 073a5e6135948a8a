namespace Bisector.Statistics;

/// <summary>
/// Student's t distribution with integer degrees of freedom, for fixed-sample intervals under the Gaussian model the
/// search's e-values assume. The two-sided probability is Abramowitz and Stegun's finite series 26.7.3/26.7.4 (exact
/// for integer degrees of freedom); the quantile inverts it by bisection.
/// </summary>
public static class StudentT
{
    /// <summary>P(|T| ≤ <paramref name="t"/>) for <paramref name="df"/> ≥ 1 degrees of freedom.</summary>
    public static double TwoSidedProbability(double t, int df)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(df, 1);
        if (double.IsNaN(t))
            return double.NaN;
        t = Math.Abs(t);
        if (double.IsPositiveInfinity(t))
            return 1;
        var theta = Math.Atan(t / Math.Sqrt(df));
        double c = Math.Cos(theta), s = Math.Sin(theta), c2 = c * c;
        if (df % 2 == 1)
        {
            if (df == 1)
                return 2 * theta / Math.PI;
            // cosθ · (1 + 2/3 cos²θ + 2·4/(3·5) cos⁴θ + … up to cos^(df−3)θ)
            double term = 1, sum = 1;
            for (var k = 1; k <= (df - 3) / 2; k++)
            {
                term *= 2.0 * k / (2 * k + 1) * c2;
                sum += term;
            }

            return Math.Clamp(2 / Math.PI * (theta + s * c * sum), 0, 1);
        }
        else
        {
            // sinθ · (1 + 1/2 cos²θ + 1·3/(2·4) cos⁴θ + … up to cos^(df−2)θ)
            double term = 1, sum = 1;
            for (var k = 1; k <= (df - 2) / 2; k++)
            {
                term *= (2.0 * k - 1) / (2 * k) * c2;
                sum += term;
            }

            return Math.Clamp(s * sum, 0, 1);
        }
    }

    /// <summary>The t with P(|T| ≤ t) = <paramref name="level"/>: the half-width, in standard errors, of a two-sided
    /// interval at that level (e.g. 3.747 for 98 % at 4 degrees of freedom).</summary>
    public static double TwoSidedQuantile(double level, int df)
    {
        if (level is <= 0 or >= 1)
            throw new ArgumentOutOfRangeException(nameof(level), level, "the level must be in (0, 1)");
        double lo = 0, hi = 1;
        while (TwoSidedProbability(hi, df) < level)
            hi *= 2;
        for (var i = 0; i < 100 && hi - lo > 1e-12 * hi; i++)
        {
            var mid = (lo + hi) / 2;
            if (TwoSidedProbability(mid, df) < level)
                lo = mid;
            else
                hi = mid;
        }

        return (lo + hi) / 2;
    }
}
