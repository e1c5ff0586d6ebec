package optim

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/autograd"
	"github.com/kiln-ml/kiln/kernels"
	"github.com/kiln-ml/kiln/tensor"
)

// referenceNorms returns the ℓ1 and ℓ2 norms of all gradients in float64,
// summed in the simplest order.
func referenceNorms(ps []*autograd.Var) (l1, l2 float64) {
	for _, p := range ps {
		if g := p.Grad(); g != nil {
			for _, x := range g.Data() {
				l1 += math.Abs(float64(x))
				l2 += float64(x) * float64(x)
			}
		}
	}
	return l1, math.Sqrt(l2)
}

func bigParams() []*autograd.Var {
	rng := newRand(60)
	ps := []*autograd.Var{
		autograd.Param(tensor.Randn(rng, 5*grain+7)).SetName("big"),
		autograd.Param(tensor.Randn(rng, 3, 5)).SetName("small"),
		autograd.Param(tensor.Randn(rng, 2*grain)).SetName("nograd"),
	}
	randomGrads(rng, ps, 2)
	ps[2].ZeroGrad()
	return ps
}

func TestGradNorms(t *testing.T) {
	ps := bigParams()
	l1, l2 := referenceNorms(ps)
	assert.InEpsilon(t, l2, GradNorm(ps), 1e-12)
	assert.InEpsilon(t, l1, GradNormL1(ps), 1e-12)
	// Fixed blocks: the same bits on any number of threads.
	prev := kernels.Threads()
	defer kernels.SetThreads(prev)
	var got []float64
	for _, n := range []int{1, 2, 3} {
		kernels.SetThreads(n)
		got = append(got, GradNorm(ps), GradNormL1(ps))
	}
	assert.Equal(t, got[0:2], got[2:4])
	assert.Equal(t, got[0:2], got[4:6])
}

func TestClipGradNorm(t *testing.T) {
	ps := bigParams()
	_, norm := referenceNorms(ps)
	before := append([]float32(nil), ps[0].Grad().Data()...)
	got := ClipGradNorm(ps, norm/4)
	assert.InEpsilon(t, norm, got, 1e-12, "returns the norm before clipping")
	_, after := referenceNorms(ps)
	assert.InEpsilon(t, norm/4, after, 1e-6)
	for i, x := range ps[0].Grad().Data() {
		if !assert.InEpsilon(t, 0.25, float64(x)/float64(before[i]), 1e-6, "element %d keeps its direction", i) {
			break
		}
	}

	// Below the limit nothing changes.
	ps = bigParams()
	g0 := append([]float32(nil), ps[0].Grad().Data()...)
	assert.InEpsilon(t, norm, ClipGradNorm(ps, 2*norm), 1e-12)
	assert.Equal(t, g0, ps[0].Grad().Data())
}

func TestClipGradNormNonFinite(t *testing.T) {
	ps := bigParams()
	ps[1].Grad().Data()[3] = float32(math.Inf(-1))
	g0 := append([]float32(nil), ps[0].Grad().Data()...)
	assert.True(t, math.IsInf(ClipGradNorm(ps, 1), 1))
	assert.Equal(t, g0, ps[0].Grad().Data(), "gradients are left alone")
	ps[1].Grad().Data()[3] = float32(math.NaN())
	assert.True(t, math.IsNaN(ClipGradNorm(ps, 1)))
	assert.Panics(t, func() { ClipGradNorm(ps, 0) })
}

func TestClipGradValue(t *testing.T) {
	p := vec("w", 0, 0, 0, 0, 0)
	setGrad(p, -3, -0.5, 0.25, 7, float32(math.NaN()))
	ClipGradValue([]*autograd.Var{p}, 1)
	g := p.Grad().Data()
	assert.Equal(t, []float32{-1, -0.5, 0.25, 1}, g[:4])
	assert.True(t, math.IsNaN(float64(g[4])))
	assert.Panics(t, func() { ClipGradValue([]*autograd.Var{p}, -1) })
}

func TestCheckFinite(t *testing.T) {
	ps := bigParams()
	require.NoError(t, CheckFinite(ps))
	ps[0].Grad().Data()[3*grain+11] = float32(math.NaN())
	ps[1].Grad().Data()[7] = float32(math.Inf(1))
	err := CheckFinite(ps)
	var nf *NonFiniteError
	require.ErrorAs(t, err, &nf)
	assert.Equal(t, "big", nf.Param)
	assert.Equal(t, []int{3*grain + 11}, nf.Index)
	assert.True(t, math.IsNaN(float64(nf.Value)))
	ps[0].Grad().Data()[3*grain+11] = 0
	require.ErrorAs(t, CheckFinite(ps), &nf)
	assert.Equal(t, &NonFiniteError{Param: "small", Index: []int{1, 2}, Value: float32(math.Inf(1))}, nf)
	assert.EqualError(t, nf, `optim: gradient of parameter "small" is +Inf at [1 2]`)
}

// Every position and kind of non-finite value is found, in slices of odd
// and even lengths (the check reads pairs of elements).
func TestNonFiniteEverywhere(t *testing.T) {
	for _, n := range []int{1, 2, 3, 7, 64, grain + 1, 2*grain + 3} {
		x := randomVec(61, n, 1e30) // large but finite
		assert.Zero(t, gradReduceOne(x, nonFiniteLoop), "n=%d finite", n)
		for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
			for _, i := range []int{0, n / 2, n - 1} {
				old := x[i]
				x[i] = bad
				assert.NotZero(t, gradReduceOne(x, nonFiniteLoop), "n=%d %v at %d", n, bad, i)
				x[i] = old
			}
		}
		x[0] = math.MaxFloat32
		x[n-1] = -math.MaxFloat32
		assert.Zero(t, gradReduceOne(x, nonFiniteLoop), "n=%d extremes are finite", n)
		if n > 2 {
			// A slice that starts at an odd element.
			y := x[1:]
			y[len(y)-1] = float32(math.NaN())
			assert.NotZero(t, gradReduceOne(y, nonFiniteLoop), "n=%d unaligned", n)
			y[0] = float32(math.Inf(1))
			y[len(y)-1] = 1
			assert.NotZero(t, gradReduceOne(y, nonFiniteLoop), "n=%d unaligned", n)
		}
	}
}
