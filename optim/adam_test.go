package optim

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/autograd"
	"github.com/kiln-ml/kiln/tensor"
)

// randomVec returns n values from rng, none zero, scaled by s.
func randomVec(seed uint64, n int, s float64) []float32 {
	rng := newRand(seed)
	out := make([]float32, n)
	for i := range out {
		for out[i] == 0 {
			out[i] = float32(s * rng.NormFloat64())
		}
	}
	return out
}

// ulp returns the spacing of float32 values at |x|.
func ulp(x float64) float64 {
	a := float32(math.Abs(x))
	return float64(math.Nextafter32(a, float32(math.Inf(1))) - a)
}

// ulpsOff returns by how many float32 ulps of want got differs.
func ulpsOff(want float64, got float32) float64 {
	return math.Abs(want-float64(got)) / ulp(want)
}

// The first step with ε = 0 moves every coordinate by lr·sign(g), whatever
// the betas, since bias correction makes m̂ = g and v̂ = g²: up to a few
// roundings. Starting from p = 0 makes p the step itself, exactly. (With the
// weights 1−β rounded from the float32 β instead of from float64, the step
// would be 6.5e-6 relative off, 55 ulps, for β2 = 0.999 and 8.3e-5 for
// 0.9999.)
func TestAdamFirstStepIsSignWithZeroEps(t *testing.T) {
	const n, lr = 1000, 0.01
	for _, betas := range [][2]float64{{0.9, 0.999}, {0.5, 0.9}, {0, 0.99}, {0.95, 0.9999}, {0.8, 0.95}} {
		for _, core := range []Core{
			AdamTorch{Beta1: betas[0], Beta2: betas[1]},
			AdamTorch{Beta1: betas[0], Beta2: betas[1], AMSGrad: true},
			AdamHF{Beta1: betas[0], Beta2: betas[1]},
		} {
			g := randomVec(2, n, 1e-3)
			p := make([]float32, n)
			st := NewTensorState(core, n)
			core.Update(p, g, &st, lr, 0)
			worst := 0.0
			for i := range p {
				want := -lr * math.Copysign(1, float64(g[i]))
				worst = max(worst, ulpsOff(want, p[i]))
			}
			assert.LessOrEqual(t, worst, 4.0, "%T %+v: ulps off lr·sign(g)", core, core)
		}
	}
}

// A constant gradient with ε = 0 moves every coordinate by lr·sign(g) at
// every step.
func TestAdamConstantGradientMovesBySign(t *testing.T) {
	const n, lr = 500, 0.01
	core := AdamTorch{Beta1: 0.9, Beta2: 0.999}
	g := randomVec(3, n, 1)
	p := randomVec(4, n, 1)
	st := NewTensorState(core, n)
	for step := 1; step <= 20; step++ {
		before := append([]float32(nil), p...)
		core.Update(p, g, &st, lr, 0)
		for i := range p {
			// m̂ and v̂ equal g and g² only up to the rounding of the float32
			// moments, which grows slowly over the steps.
			assert.InDelta(t, -lr*math.Copysign(1, float64(g[i])), float64(p[i])-float64(before[i]), lr*1e-6+ulp(float64(p[i])),
				"step %d coordinate %d", step, i)
		}
	}
}

// With ε = 0, scaling every gradient by a power of two scales m by it and v
// by its square exactly, so the iterates are bitwise the same.
func TestAdamScaleInvariance(t *testing.T) {
	const n = 300
	for _, core := range []Core{AdamTorch{Beta1: 0.9, Beta2: 0.999}, AdamHF{Beta1: 0.9, Beta2: 0.95}, LionCore{Beta1: 0.9, Beta2: 0.99}} {
		p1, p2 := randomVec(5, n, 1), randomVec(5, n, 1)
		s1, s2 := NewTensorState(core, n), NewTensorState(core, n)
		for step := range 10 {
			g := randomVec(uint64(10+step), n, 0.1)
			g4 := make([]float32, n)
			for i := range g {
				g4[i] = 4 * g[i]
			}
			core.Update(p1, g, &s1, 0.01, 0)
			core.Update(p2, g4, &s2, 0.01, 0)
		}
		assert.Equal(t, p1, p2, "%T", core)
	}
}

// With a zero gradient AdamW only decays: θ_t = θ_0·(1−lr·wd)^t, each step
// one float32 multiplication by the rounded factor, as in PyTorch.
func TestAdamWZeroGradientOnlyDecays(t *testing.T) {
	const lr, wd = 0.01, 0.5
	p := autograd.Param(tensor.FromSlice(randomVec(6, 64, 1), 8, 8)).SetName("w")
	opt, err := NewAdamW([]*autograd.Var{p}, AdamWConfig{LR: lr, WeightDecay: wd})
	require.NoError(t, err)
	want := values(p)
	f := float32(1 - lr*wd)
	for range 25 {
		p.SetGrad(tensor.New(8, 8))
		require.NoError(t, opt.Step())
		for i := range want {
			want[i] *= f
		}
	}
	assert.Equal(t, want, values(p))
}

// The Hugging Face decay subtracts lr·wd·p after the update with the exact
// amount: with a zero gradient on zero moments (no update), one step gives
// p·(1 − lr·wd) of float64 lr·wd to within the rounding of the result and
// of the small product lr·wd·p. A factor 1 − lr·wd rounded to float32 would
// be off by up to 3e-4 of the decay at lr·wd = 1e-4, and miss this bound.
func TestAdamHFDecayIsExact(t *testing.T) {
	const n = 3*grain + 7
	for _, c := range []struct{ lr, wd float64 }{{1e-3, 0.1}, {3e-4, 0.01}, {1e-2, 0.3}} {
		core := AdamHF{Beta1: 0.9, Beta2: 0.999, Eps: 1e-6}
		p0 := randomVec(40, n, 1)
		p := append([]float32(nil), p0...)
		st := NewTensorState(core, n)
		core.Update(p, make([]float32, n), &st, c.lr, c.wd)
		worst := 0.0
		for i := range p {
			worst = max(worst, ulpsOff(float64(p0[i])*(1-c.lr*c.wd), p[i]))
		}
		assert.LessOrEqual(t, worst, 0.5+4*c.lr*c.wd, "lr %g wd %g: ulps off p·(1 − lr·wd)", c.lr, c.wd)
	}
}

// AMSGrad equals Adam as long as v never decreases, e.g. when |g| does not
// decrease from the first step.
func TestAMSGradEqualsAdamWhileVGrows(t *testing.T) {
	const n = 200
	base := randomVec(7, n, 1)
	run := func(ams bool) []float32 {
		core := AdamTorch{Beta1: 0.9, Beta2: 0.99, Eps: 1e-8, AMSGrad: ams}
		p := randomVec(8, n, 1)
		st := NewTensorState(core, n)
		for step := range 15 {
			g := make([]float32, n)
			for i := range g {
				g[i] = base[i] * float32(1+step) // |g| grows
				if step%2 == 1 {
					g[i] = -g[i]
				}
			}
			core.Update(p, g, &st, 0.01, 0)
		}
		return p
	}
	adam, ams := run(false), run(true)
	for i := range adam {
		assert.InEpsilon(t, adam[i], ams[i], 1e-6, "coordinate %d", i)
	}
}

// The fused path (kernel) and the Go path (AMSGrad, coupled decay) and
// Direction agree on the same problem.
func TestAdamPathsAgree(t *testing.T) {
	const n = 3*grain + 5
	g := randomVec(9, n, 0.1)
	p0 := randomVec(10, n, 1)
	fused := append([]float32(nil), p0...)
	core := AdamTorch{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Decoupled: true}
	st := NewTensorState(core, n)
	// AMSGrad on the first step equals Adam: max(0, v) = v.
	ams := append([]float32(nil), p0...)
	coreAMS := core
	coreAMS.AMSGrad = true
	stAMS := NewTensorState(coreAMS, n)
	core.Update(fused, g, &st, 0.01, 0.1)
	coreAMS.Update(ams, g, &stAMS, 0.01, 0.1)
	for i := range fused {
		if ulpsOff(float64(fused[i]), ams[i]) > 2 {
			require.Failf(t, "paths differ", "coordinate %d: fused %v, Go %v", i, fused[i], ams[i])
		}
	}
}

func TestAdamStateSlots(t *testing.T) {
	assert.Equal(t, []string{"exp_avg", "exp_avg_sq"}, AdamTorch{}.Slots())
	assert.Equal(t, []string{"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}, AdamTorch{AMSGrad: true}.Slots())
	assert.Equal(t, []string{"exp_avg", "exp_avg_sq"}, AdamHF{}.Slots())
	assert.Equal(t, []string{"exp_avg"}, LionCore{}.Slots())
	assert.Empty(t, SGDCore{}.Slots())
	assert.Equal(t, []string{"momentum_buffer"}, SGDCore{Momentum: 0.9}.Slots())
}

// A nil gradient leaves the parameter and its step count alone; a zero
// gradient is a gradient and advances the moments.
func TestNilAndZeroGradients(t *testing.T) {
	a, b := vec("a", 1, 2), vec("b", 3, 4)
	opt, err := NewAdam([]*autograd.Var{a, b}, AdamConfig{LR: 0.1})
	require.NoError(t, err)
	setGrad(a, 1, 1)
	require.NoError(t, opt.Step())
	opt.ZeroGrad()
	assert.Equal(t, []float32{3, 4}, values(b))
	setGrad(b, 0, 0)
	require.NoError(t, opt.Step())
	sd := opt.State()
	steps := func(name string) int64 {
		v, err := sd.Tensors[name+".step"].Int64s()
		require.NoError(t, err)
		return v[0]
	}
	assert.Equal(t, int64(1), steps("a"), "a had no gradient on the second step")
	assert.Equal(t, int64(1), steps("b"), "b's zero gradient counts as a step")
	assert.Equal(t, []float32{3, 4}, values(b), "zero gradient and zero moments do not move b")
}
