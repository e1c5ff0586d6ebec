package optim

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/autograd"
)

// G5: Fira, rank 1, α 0.25, γ 1.01, with the internals the spec lists.
func TestGoldenG5Fira(t *testing.T) {
	for _, transpose := range []bool{false, true} {
		opt := lrRunGolden(t, KindFira, lrGoldenConfig(1, 0.25), transpose, [][][]float64{
			{{0.490499283306, -0.29683309444}, {0.177249061151, 0.754498122925}, {-0.590654433336, 0.0962617733402}},
			{{0.473155982685, -0.331494182736}, {0.182330977874, 0.752804631132}, {-0.591068962863, 0.0989433607561}},
			{{0.473246815138, -0.331842725144}, {0.181783768871, 0.753930190849}, {-0.592920311454, 0.0980176864695}},
		})
		assert.InDelta(t, 1, opt.mats[0].lastLimiter, 0, "step 3 is not limited")
		assert.InEpsilon(t, 1.194941596, opt.mats[0].lastNorm, 1e-5, "step 3 raw ‖S‖")
	}
}

// The internals of G5 step by step: φ₁, ‖S₁‖, and the limiter of step 2.
// φ and ‖S‖ scale with 1/√v, and the package computes 1−β2 in float32 (see
// complement), which moves √v by 6.5e-6 relative for β2 = 0.999: hence the
// spec's float32 tolerance. The limiter is a ratio of norms and is exact to
// float32 rounding.
func TestFiraInternalsG5(t *testing.T) {
	for _, transpose := range []bool{false, true} {
		w0 := lrW0
		if transpose {
			w0 = lrTranspose(w0)
		}
		p := lrMatrixParam("attn.weight", w0)
		opt, err := NewFira([]*autograd.Var{p}, lrGoldenConfig(1, 0.25))
		require.NoError(t, err)
		step := func(k int) {
			g := lrGrads[k]
			if transpose {
				g = lrTranspose(g)
			}
			setGrad(p, lrFlat(g)...)
			require.NoError(t, opt.Step())
		}
		m := opt.mats[0]
		step(0)
		// One factor per row of the 3x2 matrix (right projection), per
		// column of its transpose (left projection).
		assertRel(t, []float64{10.014635, 35.972392, 5.910655}, opt.work.phi[:3], goldenTol, "φ₁")
		assert.InEpsilon(t, 16.304687392, m.lastNorm, goldenTol, "‖S₁‖")
		assert.Equal(t, 1.0, m.lastLimiter, "step 1 is never limited")
		assert.InEpsilon(t, 16.304687392, float64(m.prevNorm), goldenTol)
		step(1)
		assert.InEpsilon(t, 16.568383137, m.lastNorm, goldenTol, "raw ‖S₂‖")
		assert.InEpsilon(t, 1.006111883, m.lastLimiter, 1e-7, "limiter L = ρ/γ")
		assert.InEpsilon(t, 16.467734276, float64(m.prevNorm), goldenTol, "stored ‖S₂‖/L")
		step(2)
		assert.InEpsilon(t, 1.194941596, m.lastNorm, 1e-5, "raw ‖S₃‖")
		assert.Equal(t, 1.0, m.lastLimiter)
	}
}

var goldenG5b = [][][]float64{
	{{0.490499283077, -0.296833094378}, {0.177249060327, 0.754498123149}, {-0.590654433201, 0.0962617733034}},
	{{0.473274448957, -0.330926269465}, {0.182355792204, 0.752802592666}, {-0.587862117331, 0.0980309654146}},
	{{0.472846518289, -0.331133548372}, {0.18419290629, 0.753278881434}, {-0.589713465955, 0.0971052911371}},
}

// G5b: α = 1, where the residual is orthogonal to the subspace. With α = 1
// the official and the paper's residual coincide.
func TestGoldenG5bFira(t *testing.T) {
	lrRunGolden(t, KindFira, lrGoldenConfig(1, 1), false, goldenG5b)
	cfg := lrGoldenConfig(1, 1)
	cfg.PaperResidual = true
	lrRunGolden(t, KindFira, cfg, false, goldenG5b)
}
