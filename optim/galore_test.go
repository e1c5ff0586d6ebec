package optim

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/autograd"
	"github.com/kiln-ml/kiln/tensor"
)

// The shared low-rank problem of shared/specs/optimizers.md §12: a 3x2
// weight (m ≥ n, so std projects the right side) and three fixed gradients.
var (
	lrW0    = [][]float64{{0.5, -0.3}, {0.2, 0.8}, {-0.6, 0.1}}
	lrGrads = [][][]float64{
		{{0.3, -0.1}, {0.2, 0.4}, {-0.5, 0.2}},
		{{0.1, 0.2}, {-0.3, 0.1}, {0.2, -0.4}},
		{{-0.2, 0.3}, {0.1, -0.1}, {0.4, 0.2}},
	}
)

// lrGoldenConfig is the spec's setting of the shared problem: lr 0.01, β
// (0.9, 0.999), ε 1e-6, no decay, T 200.
func lrGoldenConfig(rank int, scale float64) LowRankConfig {
	return LowRankConfig{LR: 0.01, Rank: rank, Scale: scale, UpdateGap: 200}
}

// lrTranspose returns the transpose of a.
func lrTranspose(a [][]float64) [][]float64 {
	out := make([][]float64, len(a[0]))
	for j := range out {
		out[j] = make([]float64, len(a))
		for i := range a {
			out[j][i] = a[i][j]
		}
	}
	return out
}

// lrFlat flattens a matrix into float32, row-major.
func lrFlat(a [][]float64) []float32 {
	var out []float32
	for _, row := range a {
		for _, x := range row {
			out = append(out, float32(x))
		}
	}
	return out
}

// lrMatrixParam returns a matrix parameter named name holding a.
func lrMatrixParam(name string, a [][]float64) *autograd.Var {
	return autograd.Param(tensor.FromSlice(lrFlat(a), len(a), len(a[0]))).SetName(name)
}

// lrCheckGolden compares a float32 matrix after a step with float64 golden
// values: the values within the spec's 1e-5 relative tolerance, and the
// change from w0 (the update, much smaller than the values) within 2e-5 of
// its largest element, so that the test sees the update to five digits.
func lrCheckGolden(t *testing.T, w0, want [][]float64, got []float32, msg string) {
	t.Helper()
	var flat []float64
	for _, row := range want {
		flat = append(flat, row...)
	}
	assertRel(t, flat, got, goldenTol, msg)
	w0f := lrFlat(w0)
	maxDelta := 0.0
	for i, x := range flat {
		maxDelta = max(maxDelta, math.Abs(x-float64(w0f[i])))
	}
	for i, x := range flat {
		wantD, gotD := x-float64(w0f[i]), float64(got[i])-float64(w0f[i])
		if d := math.Abs(wantD - gotD); d > 2e-5*maxDelta+ulp(x) {
			assert.Failf(t, "update differs", "%s: element %d: update %.9g, want %.12g (off by %.3g of the largest update)", msg, i, gotD, wantD, d/maxDelta)
		}
	}
}

// lrRunGolden runs a low-rank optimizer of kind over the shared problem
// (transposed if transpose) and checks the weight after each step.
func lrRunGolden(t *testing.T, kind string, cfg LowRankConfig, transpose bool, want [][][]float64) *LowRank {
	t.Helper()
	w0, grads := lrW0, lrGrads
	if transpose {
		w0 = lrTranspose(w0)
	}
	p := lrMatrixParam("attn.weight", w0)
	opt, err := NewLowRank(kind, []*autograd.Var{p}, cfg)
	require.NoError(t, err)
	for k := range want {
		g := grads[k]
		if transpose {
			g = lrTranspose(g)
		}
		setGrad(p, lrFlat(g)...)
		require.NoError(t, opt.Step())
		opt.ZeroGrad()
		w := want[k]
		if transpose {
			w = lrTranspose(w)
		}
		lrCheckGolden(t, w0, w, values(p), fmt.Sprintf("step %d", k+1))
	}
	return opt
}

// G4: GaLore, rank 1, α 0.25.
var goldenG4 = [][][]float64{
	{{0.49758807565, -0.299343212999}, {0.197588701795, 0.800656616497}, {-0.597587976655, 0.099343186042}},
	{{0.495739877894, -0.298839933424}, {0.198884710156, 0.800303702673}, {-0.597050215099, 0.0991967491109}},
	{{0.495653417372, -0.298816389507}, {0.199282097353, 0.800195490844}, {-0.597422434331, 0.0992981074944}},
}

func TestGoldenG4GaLore(t *testing.T) {
	opt := lrRunGolden(t, KindGaLore, lrGoldenConfig(1, 0.25), false, goldenG4)
	pr := opt.Projections()
	require.Len(t, pr, 1)
	assert.Equal(t, Projection{Param: "attn.weight", Rows: 3, Cols: 2, Rank: 1, Side: "right", LowRank: [2]int{3, 1}}, pr[0])
	// The intermediate of the spec: Q = ±[0.964866367731, −0.262741112925].
	q := opt.mats[0].proj.Q().Data
	assertRel(t, []float64{0.964866367731, -0.262741112925}, q, goldenTol, "Q")
}

// G4b: the transposed problem (2x3, so std projects the left side) gives the
// transposes of G4.
func TestGoldenG4bGaLoreTransposed(t *testing.T) {
	opt := lrRunGolden(t, KindGaLore, lrGoldenConfig(1, 0.25), true, goldenG4)
	assert.Equal(t, "left", opt.Projections()[0].Side)
}

// G4c: T = 2 refreshes on steps 1 and 3 and carries the moments over; the
// value depends on the sign convention (largest-|entry| positive).
func TestGoldenG4cGaLoreRefresh(t *testing.T) {
	cfg := lrGoldenConfig(1, 0.25)
	cfg.UpdateGap = 2
	want := [][][]float64{goldenG4[0], goldenG4[1],
		{{0.495121088432, -0.298926597948}, {0.199481952498, 0.800387349416}, {-0.597600093688, 0.0991197358956}}}
	lrRunGolden(t, KindGaLore, cfg, false, want)
	lrRunGolden(t, KindGaLore, cfg, true, want)
}

// G4d: at full rank with α = 1 and ε = 0 the first step is −lr·sign(G₁Qᵀ)·Q,
// which is not Adam's −lr·sign(G₁).
func TestGoldenG4dGaLoreFullRank(t *testing.T) {
	cfg := lrGoldenConfig(2, 1)
	cfg.Base = AdamHF{Beta1: 0.9, Beta2: 0.999}
	lrRunGolden(t, KindGaLore, cfg, false, [][][]float64{
		{{0.492978747452, -0.287723925193}, {0.187723925193, 0.792978747452}, {-0.592978747452, 0.0877239251934}},
	})
}
