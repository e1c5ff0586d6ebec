package lowrank

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/kiln-ml/kiln/kernels"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/mat"
)

// subspaceCos returns the smallest cosine of the principal angles between the
// column spaces of a and b (both with orthonormal columns, same width).
func subspaceCos(a, b Matrix) float64 {
	var c mat.Dense
	c.Mul(toDense(a).T(), toDense(b))
	var svd mat.SVD
	svd.Factorize(&c, mat.SVDNone)
	s := svd.Values(nil)
	return s[len(s)-1]
}

func geometric(n int, ratio float64) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = math.Pow(ratio, float64(i))
	}
	return s
}

func mustRandomized(t *testing.T, cfg RandomizedConfig) *RandomizedSVD {
	t.Helper()
	d, err := NewRandomizedSVD(cfg)
	require.NoError(t, err)
	return d
}

// residualRatio returns ‖A − U·Uᵀ·A‖_F divided by the optimal rank-k error
// sqrt(Σ_{i>k} σ_i²).
func residualRatio(a, u Matrix, spec []float64) float64 {
	ad, ud := toDense(a), toDense(u)
	var p, r mat.Dense
	p.Mul(ud.T(), ad)
	r.Mul(ud, &p)
	r.Sub(ad, &r)
	tail := 0.0
	for _, s := range spec[u.Cols:] {
		tail += s * s
	}
	return mat.Norm(&r, 2) / math.Sqrt(tail)
}

// On matrices with decaying spectra the randomized SVD matches the exact one:
// with a clear gap the singular vectors themselves, otherwise the captured
// subspace is nearly as good as the optimal one.
func TestRandomizedAccuracy(t *testing.T) {
	rng := newRNG(20)
	for _, c := range []struct {
		m, n, k  int
		ratio    float64
		iters    int
		cosTol   float64 // 1 − smallest principal cosine with the exact subspace; 0 skips
		sTol     float64 // error of the singular values relative to σ₁
		residTol float64 // residual ratio − 1
	}{
		{200, 80, 10, 0.8, 2, 1e-6, 1e-6, 1e-6},
		{80, 200, 10, 0.8, 2, 1e-6, 1e-6, 1e-6},
		{150, 120, 16, 0.95, 2, 0, 2e-3, 2e-3},
		{120, 150, 16, 0.95, 2, 0, 2e-3, 2e-3},
		{150, 120, 16, 0.95, 6, 1e-4, 1e-5, 1e-6},
	} {
		spec := geometric(min(c.m, c.n), c.ratio)
		a := withSpectrum(rng, c.m, c.n, spec)
		var e SVD
		fe, err := e.Factorize(a, c.k, SideBoth)
		require.NoError(t, err)
		ue, ve, se := clone(fe.U), transpose(fe.Vt), append([]float32(nil), fe.S...)
		cfg := DefaultRandomizedConfig()
		cfg.PowerIters = c.iters
		d := mustRandomized(t, cfg)
		fr, err := d.Factorize(a, c.k, SideBoth, 0)
		require.NoError(t, err)
		require.Equal(t, c.k, fr.Rank())
		name := fmt.Sprintf("%dx%d k=%d ratio=%v q=%d", c.m, c.n, c.k, c.ratio, c.iters)
		assert.Less(t, orthoError(fr.U, true), 1e-6, name)
		assert.Less(t, orthoError(fr.Vt, false), 1e-6, name)
		if c.cosTol > 0 {
			assert.Greater(t, subspaceCos(ue, fr.U), 1-c.cosTol, name+" U")
			assert.Greater(t, subspaceCos(ve, transpose(fr.Vt)), 1-c.cosTol, name+" V")
		}
		assert.Less(t, residualRatio(a, fr.U, spec)-1, c.residTol, name)
		assert.Less(t, residualRatio(transpose(a), transpose(fr.Vt), spec)-1, c.residTol, name)
		for i := range c.k {
			assert.InDelta(t, float64(se[i]), float64(fr.S[i]), c.sTol*float64(se[0]), "%s σ%d", name, i)
		}
		// Paired signs: A·v = +σ·u.
		for i := range c.k {
			v, u := row(fr.Vt, i), column(fr.U, i)
			uav := 0.0
			for r := range c.m {
				uav += u[r] * dotF(row(a, r), v)
			}
			assert.InDelta(t, float64(fr.S[i]), uav, 1e-4*float64(se[0]), name)
		}
	}
}

// Power iterations help: the captured subspace improves with q.
func TestRandomizedPowerIterationsImprove(t *testing.T) {
	spec := geometric(90, 0.9)
	a := withSpectrum(newRNG(21), 120, 90, spec)
	prev := math.Inf(1)
	for _, q := range []int{0, 1, 3} {
		d := mustRandomized(t, RandomizedConfig{Oversample: 5, PowerIters: q, Seed: 1})
		f, err := d.Factorize(a, 8, SideLeft, 0)
		require.NoError(t, err)
		r := residualRatio(a, f.U, spec)
		assert.Less(t, r, prev, "q=%d", q)
		prev = r
	}
	assert.Less(t, prev, 1.001)
}

func TestRandomizedDeterministic(t *testing.T) {
	a := withSpectrum(newRNG(22), 60, 40, geometric(40, 0.8))
	d1 := mustRandomized(t, RandomizedConfig{Oversample: 4, PowerIters: 1, Seed: 7})
	d2 := mustRandomized(t, RandomizedConfig{Oversample: 4, PowerIters: 1, Seed: 7})
	f1, err := d1.Factorize(a, 5, SideBoth, 3)
	require.NoError(t, err)
	u1, v1 := clone(f1.U), clone(f1.Vt)
	f2, err := d2.Factorize(a, 5, SideBoth, 3)
	require.NoError(t, err)
	assert.Equal(t, u1.Data, f2.U.Data)
	assert.Equal(t, v1.Data, f2.Vt.Data)
	// Independent of the number of kernel threads.
	old := kernels.Threads()
	kernels.SetThreads(1)
	f3, err := d2.Factorize(a, 5, SideBoth, 3)
	kernels.SetThreads(old)
	require.NoError(t, err)
	assert.Equal(t, u1.Data, f3.U.Data)
	// Another stream draws another test matrix.
	f4, err := d2.Factorize(a, 5, SideBoth, 4)
	require.NoError(t, err)
	assert.NotEqual(t, u1.Data, f4.U.Data)
}

// When r + Oversample covers min(m, n), the exact SVD is computed.
func TestRandomizedFallsBackToExact(t *testing.T) {
	a := randn(newRNG(23), 30, 12)
	d := mustRandomized(t, RandomizedConfig{Oversample: 4, PowerIters: 2})
	f, err := d.Factorize(a, 8, SideBoth, 0)
	require.NoError(t, err)
	u, vt := clone(f.U), clone(f.Vt)
	var e SVD
	fe, err := e.Factorize(a, 8, SideBoth)
	require.NoError(t, err)
	assert.Equal(t, fe.U.Data, u.Data)
	assert.Equal(t, fe.Vt.Data, vt.Data)
}

func TestRandomizedZeroAndRankDeficient(t *testing.T) {
	d := mustRandomized(t, RandomizedConfig{Oversample: 3, PowerIters: 2})
	f, err := d.Factorize(NewMatrix(40, 30), 4, SideBoth, 0)
	require.NoError(t, err)
	var e SVD
	fe, err := e.Factorize(NewMatrix(40, 30), 4, SideBoth)
	require.NoError(t, err)
	assert.Equal(t, fe.U.Data, f.U.Data)
	assert.Equal(t, fe.Vt.Data, f.Vt.Data)
	assert.Equal(t, []float32{0, 0, 0, 0}, f.S)

	for _, sh := range [][2]int{{40, 30}, {30, 40}} {
		a := withSpectrum(newRNG(24), sh[0], sh[1], []float64{2, 1})
		f, err := d.Factorize(a, 5, SideBoth, 0)
		require.NoError(t, err)
		assert.InDelta(t, 2, float64(f.S[0]), 1e-5)
		assert.InDelta(t, 1, float64(f.S[1]), 1e-5)
		assert.Equal(t, []float32{0, 0, 0}, f.S[2:])
		assert.Less(t, orthoError(f.U, true), 1e-6)
		assert.Less(t, orthoError(f.Vt, false), 1e-6)
		for _, v := range f.U.Data {
			assert.False(t, math.IsNaN(float64(v)))
		}
	}
}

func TestRandomizedSignAndNegation(t *testing.T) {
	for _, sh := range [][2]int{{50, 30}, {30, 50}} {
		a := withSpectrum(newRNG(25), sh[0], sh[1], geometric(30, 0.7))
		for _, side := range []Side{SideLeft, SideRight} {
			d := mustRandomized(t, RandomizedConfig{Oversample: 4, PowerIters: 1, Seed: 3})
			f1, err := d.Factorize(a, 4, side, 0)
			require.NoError(t, err)
			u1, v1 := clone(f1.U), clone(f1.Vt)
			f2, err := d.Factorize(neg(a), 4, side, 0)
			require.NoError(t, err)
			assert.Equal(t, u1.Data, f2.U.Data)
			assert.Equal(t, v1.Data, f2.Vt.Data)
			for i := range 4 {
				if side == SideLeft {
					assert.True(t, largestPositive(column(u1, i)))
				} else {
					assert.True(t, largestPositive(row(v1, i)))
				}
			}
		}
	}
}

// The randomized factors of Aᵀ are those of A with the sides swapped: the
// range finder always samples the larger dimension with the same test matrix.
func TestRandomizedTranspose(t *testing.T) {
	a := withSpectrum(newRNG(26), 70, 40, geometric(40, 0.8))
	d := mustRandomized(t, RandomizedConfig{Oversample: 4, PowerIters: 1, Seed: 9})
	f1, err := d.Factorize(a, 5, SideBoth, 2)
	require.NoError(t, err)
	u1, v1 := clone(f1.U), clone(f1.Vt)
	f2, err := d.Factorize(transpose(a), 5, SideBoth, 2)
	require.NoError(t, err)
	assert.Less(t, maxAbsDiff(u1.Data, transpose(f2.Vt).Data), 1e-5)
	assert.Less(t, maxAbsDiff(v1.Data, transpose(f2.U).Data), 1e-5)
}

func TestRandomizedErrors(t *testing.T) {
	_, err := NewRandomizedSVD(RandomizedConfig{Oversample: -1})
	assert.Error(t, err)
	_, err = NewRandomizedSVD(RandomizedConfig{PowerIters: -1})
	assert.Error(t, err)
	d := mustRandomized(t, DefaultRandomizedConfig())
	assert.Equal(t, DefaultRandomizedConfig(), d.Config())
	a := randn(newRNG(27), 50, 40)
	a.Data[17] = float32(math.NaN())
	_, err = d.Factorize(a, 3, SideLeft, 0)
	assert.True(t, errors.Is(err, ErrNotFinite))
	assert.Panics(t, func() { _, _ = d.Factorize(a, 0, SideLeft, 0) })
}
