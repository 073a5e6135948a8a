using Bisector.Search;

namespace Bisector.Tests.Search;

public class CulpritPosteriorSpecs
{
    private static readonly double[] Good = [100, 101, 99, 100, 102, 98];
    private static readonly double[] Bad = [200, 201, 199, 200, 202, 198];

    [Fact]
    public void I_can_see_every_measured_commit_as_evidence_and_a_flat_posterior_between_them()
    {
        // Arrange: 10 candidates; 3 looks good, 7 looks bad, nothing else measured
        IReadOnlyList<double> At(int p) => p switch { 3 => Good, 7 => Bad, _ => [] };

        // Act
        var post = CulpritPosterior.Compute(10, Good, Bad, At);

        // Assert: all mass on 4..7, spread evenly (nothing tells 4, 5, 6 and 7 apart), and it sums to 1
        Assert.Equal(1, post.Sum(), 9);
        Assert.True(post[..3].Sum() < 1e-6);
        Assert.True(post[7..].Sum() < 1e-6);
        Assert.All(post[3..7], p => Assert.Equal(0.25, p, 6));
    }

    [Fact]
    public void I_get_a_uniform_posterior_without_anchors_and_a_cautious_one_with_few_trials()
    {
        // Arrange / Act
        var none = CulpritPosterior.Compute(4, [], Bad, _ => []);
        var twoEach = CulpritPosterior.Compute(2, [100, 104], [106, 110], p => p == 1 ? [103.0, 107] : []);

        // Assert: no good anchor ⇒ no evidence; two trials per commit with overlapping values ⇒ no commit near 95 %
        Assert.All(none, p => Assert.Equal(0.25, p, 12));
        Assert.True(twoEach.Max() < 0.95);
    }
}
