package optim

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/autograd"
)

// G6 at the optimizer level: a 4x1 matrix at rank 1 has Q = [1], so its
// projected gradient is the gradient itself; with plain SGD, lr 1 and α 1,
// each step moves the weight by −g̃ = −(λI + HHᵀ)⁻¹g, H the gradients so far.
func TestGoldenG6NaturalTransform(t *testing.T) {
	hist := [][]float64{{0.3, -0.1, 0.2, 0.4}, {0.1, 0.2, -0.3, 0.1}, {-0.2, 0.3, 0.1, -0.1}}
	want := [][]float64{
		{0.996677740864, -0.332225913621, 0.664451827243, 1.32890365449},
		{0.729862627064, 1.30537364115, -1.94703534652, 0.751912857489},
		{-0.792128743427, 2.42273249363, 1.49915323963, 0.441932633207},
	}
	p := lrMatrixParam("mlp.weight", [][]float64{{0}, {0}, {0}, {0}})
	opt, err := NewNaturalGaLore([]*autograd.Var{p}, LowRankConfig{LR: 1, Rank: 1, Base: SGDCore{}, Damping: 1e-3})
	require.NoError(t, err)
	prev := values(p)
	for s, h := range hist {
		setGrad(p, lrFlat([][]float64{h})...)
		require.NoError(t, opt.Step())
		got := values(p)
		delta := make([]float32, len(got))
		for i := range got {
			delta[i] = prev[i] - got[i]
		}
		assertRel(t, want[s], delta, goldenTol, "s = %d", s+1)
		prev = got
	}
}

// G6b: Natural GaLore (one-sided, the paper's variant) on the shared problem.
func TestGoldenG6bNaturalGaLore(t *testing.T) {
	want := [][][]float64{
		{{0.497587929414, -0.299343173178}, {0.197588176569, 0.80065675952}, {-0.597587890345, 0.0993431625389}},
		{{0.495257108813, -0.2987084714}, {0.199226416561, 0.800210653185}, {-0.596760994493, 0.0991179919416}},
		{{0.493314853182, -0.298179579086}, {0.198218360401, 0.800485155237}, {-0.598086510047, 0.0994789408184}},
	}
	cfg := lrGoldenConfig(1, 0.25)
	cfg.History = 20
	lrRunGolden(t, KindNaturalGaLore, cfg, false, want)
	lrRunGolden(t, KindNaturalGaLore, cfg, true, want)
}
