package optim

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/autograd"
	"github.com/kiln-ml/kiln/tensor"
)

// Before decay every update entry is −lr, 0 or +lr, and 0 exactly where
// the interpolated momentum is 0 (zero gradient on zero momentum).
func TestLionUpdateIsSignTimesLR(t *testing.T) {
	const n, lr = 4*grain + 3, 0.01
	rng := newRand(20)
	g := make([]float32, n)
	for i := range g {
		if i%5 != 0 {
			g[i] = float32(rng.NormFloat64())
		}
	}
	core := LionCore{Beta1: 0.9, Beta2: 0.99}
	p := randomVec(21, n, 1)
	st := NewTensorState(core, n)
	zeros := 0
	for step := range 3 {
		before := append([]float32(nil), p...)
		if step == 2 {
			// A later step with zero gradient moves by the sign of the momentum.
			clear(g)
		}
		core.Update(p, g, &st, lr, 0)
		for i := range p {
			d := float64(p[i]) - float64(before[i])
			switch {
			case d == 0:
				zeros++
				require.Zero(t, st.Buf[0][i], "coordinate %d did not move but has momentum", i)
			default:
				// |d| is lr up to the rounding of p − lr.
				require.InDelta(t, lr, math.Abs(d), ulp(float64(before[i]))+ulp(lr), "step %d coordinate %d", step, i)
			}
		}
	}
	assert.Equal(t, 3*((n+4)/5), zeros, "coordinates with zero gradient and zero momentum stay")
}

// Lion with decay solves a problem constrained to the box |θ| ≤ 1/λ: the
// box is forward invariant and the excess shrinks at least by 1−lr·λ per
// step, whatever the gradients (spec §2.2).
func TestLionBoxBound(t *testing.T) {
	const n, lr, wd = 2000, 0.05, 2.0
	rng := newRand(22)
	p := autograd.Param(tensor.FromSlice(randomVec(23, n, 3), 40, 50)).SetName("w")
	opt, err := NewLion([]*autograd.Var{p}, LionConfig{LR: lr, WeightDecay: wd})
	require.NoError(t, err)
	excess := func(x float32) float64 { return max(math.Abs(float64(x))-1/wd, 0) }
	for step := range 60 {
		before := values(p)
		g := make([]float32, n)
		for i := range g {
			g[i] = float32(rng.NormFloat64() * 10)
		}
		setGrad(p, g...)
		require.NoError(t, opt.Step())
		for i, x := range values(p) {
			require.LessOrEqual(t, excess(x), (1-lr*wd)*excess(before[i])+1e-6, "step %d coordinate %d", step, i)
		}
	}
	worst := 0.0
	for _, x := range values(p) {
		worst = max(worst, math.Abs(float64(x)))
	}
	assert.LessOrEqual(t, worst, 1/wd+1e-6, "after 60 steps every coordinate is inside the box")
}

// The golden G3 trajectory shrinks the excess of |θ₂| over 1/λ by at most
// 0.9 per step: 1.0 → 0.7 → 0.63 → 0.567.
func TestLionGoldenExcess(t *testing.T) {
	p := vec("theta", 1, -2, 0.5, 0)
	opt, err := NewLion([]*autograd.Var{p}, LionConfig{LR: 0.1, WeightDecay: 1}, allDecay)
	require.NoError(t, err)
	prev := 1.0
	for k, g := range [][]float32{{0.1, -0.2, 0.3, 0}, {-0.05, 0.4, 0, 0}, {0.2, 0.1, -0.1, 0}} {
		setGrad(p, g...)
		require.NoError(t, opt.Step())
		e := math.Abs(float64(values(p)[1])) - 1
		assert.LessOrEqual(t, e, 0.9*prev+1e-6, "step %d", k+1)
		prev = e
	}
	assert.InDelta(t, 0.567, prev, 1e-6)
}

// Direction writes the sign of the interpolation and leaves the momentum
// as Update does.
func TestLionDirectionMatchesUpdate(t *testing.T) {
	const n = 257
	core := LionCore{Beta1: 0.9, Beta2: 0.99}
	p := randomVec(24, n, 1)
	s1, s2 := NewTensorState(core, n), NewTensorState(core, n)
	d := make([]float32, n)
	for step := range 4 {
		g := randomVec(uint64(25+step), n, 1)
		before := append([]float32(nil), p...)
		core.Update(p, g, &s1, 0.1, 0)
		assert.Equal(t, 1.0, core.Direction(d, g, &s2))
		for i := range p {
			assert.Equal(t, before[i]-0.1*d[i], p[i], "step %d coordinate %d", step, i)
		}
		assert.Equal(t, s1, s2)
	}
}
