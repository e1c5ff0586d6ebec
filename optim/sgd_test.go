package optim

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/autograd"
)

// sgdReference is torch.optim.SGD restated in float64 over a gradient
// sequence.
func sgdReference(p0 []float64, grads [][]float64, lr, mu, damp, wd float64, nesterov bool) [][]float64 {
	p := append([]float64(nil), p0...)
	var buf []float64
	var out [][]float64
	for _, g0 := range grads {
		g := make([]float64, len(p))
		for i := range g {
			g[i] = g0[i] + wd*p[i]
		}
		if mu != 0 {
			if buf == nil {
				buf = append([]float64(nil), g...)
			} else {
				for i := range buf {
					buf[i] = mu*buf[i] + (1-damp)*g[i]
				}
			}
			for i := range g {
				if nesterov {
					g[i] += mu * buf[i]
				} else {
					g[i] = buf[i]
				}
			}
		}
		for i := range p {
			p[i] -= lr * g[i]
		}
		out = append(out, append([]float64(nil), p...))
	}
	return out
}

func TestSGDMatchesReference(t *testing.T) {
	rng := newRand(30)
	const n, steps = 50, 6
	p0 := make([]float64, n)
	for i := range p0 {
		p0[i] = float64(float32(rng.NormFloat64()))
	}
	grads := make([][]float64, steps)
	for k := range grads {
		grads[k] = make([]float64, n)
		for i := range grads[k] {
			grads[k][i] = float64(float32(rng.NormFloat64()))
		}
	}
	for _, cfg := range []SGDConfig{
		{LR: 0.1},
		{LR: 0.05, WeightDecay: 0.01},
		{LR: 0.1, Momentum: 0.9},
		{LR: 0.1, Momentum: 0.9, Dampening: 0.5, WeightDecay: 0.1},
		{LR: 0.02, Momentum: 0.8, Nesterov: true, WeightDecay: 0.05},
	} {
		init := make([]float32, n)
		for i := range init {
			init[i] = float32(p0[i])
		}
		p := vec("w", init...)
		opt, err := NewSGD([]*autograd.Var{p}, cfg, allDecay)
		require.NoError(t, err)
		want := sgdReference(p0, grads, cfg.LR, cfg.Momentum, cfg.Dampening, cfg.WeightDecay, cfg.Nesterov)
		for k, g := range grads {
			g32 := make([]float32, n)
			for i := range g {
				g32[i] = float32(g[i])
			}
			setGrad(p, g32...)
			require.NoError(t, opt.Step())
			got := values(p)
			for i := range got {
				assert.InDelta(t, want[k][i], float64(got[i]), 1e-5*(1+math.Abs(want[k][i])), "%+v step %d coordinate %d", cfg, k+1, i)
			}
		}
	}
}

// PyTorch starts the momentum buffer at the first gradient, undamped.
func TestSGDFirstMomentumStepIsUndamped(t *testing.T) {
	p := vec("w", 1, 1)
	opt, err := NewSGD([]*autograd.Var{p}, SGDConfig{LR: 0.5, Momentum: 0.9, Dampening: 0.5})
	require.NoError(t, err)
	setGrad(p, 1, -2)
	require.NoError(t, opt.Step())
	assert.Equal(t, []float32{0.5, 2}, values(p)) // buf = g, not 0.5·g
	setGrad(p, 1, -2)
	require.NoError(t, opt.Step())
	// buf = 0.9·g + 0.5·g = 1.4·g
	assert.InDeltaSlice(t, []float64{0.5 - 0.7, 2 + 1.4}, []float64{float64(values(p)[0]), float64(values(p)[1])}, 1e-6)
}

// SGD without momentum keeps no state.
func TestSGDWithoutMomentumHasNoState(t *testing.T) {
	p := vec("w", 1, 2, 3)
	opt, err := NewSGD([]*autograd.Var{p}, SGDConfig{})
	require.NoError(t, err)
	assert.Equal(t, int64(8), opt.StateBytes(), "only the step counter")
	assert.Len(t, opt.State().Tensors, 1)
}

// Direction gives the step SGD takes, rounded as the fused kernel of
// Update rounds it, on tensors split over threads too.
func TestSGDDirection(t *testing.T) {
	for _, core := range []SGDCore{{}, {Momentum: 0.9}, {Momentum: 0.9, Dampening: 0.3}, {Momentum: 0.9, Nesterov: true}} {
		for _, n := range []int{3, 3*grain + 5} {
			st1, st2 := NewTensorState(core, n), NewTensorState(core, n)
			p := randomVec(31, n, 1)
			d := make([]float32, n)
			for step := range 3 {
				g := randomVec(uint64(32+step), n, 1)
				before := append([]float32(nil), p...)
				core.Update(p, g, &st1, 0.1, 0)
				assert.Equal(t, 1.0, core.Direction(d, g, &st2))
				for i := range p {
					if before[i]-0.1*d[i] != p[i] {
						require.Failf(t, "Direction differs from Update", "%+v n=%d step %d coordinate %d: %v - 0.1*%v != %v", core, n, step, i, before[i], d[i], p[i])
					}
				}
			}
			assert.Equal(t, st1, st2, "%+v n=%d", core, n)
		}
	}
}
