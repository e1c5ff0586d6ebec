package lowrank

import (
	"errors"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/mat"
)

func mustWoodbury(t *testing.T, dim int, cfg WoodburyConfig) *Woodbury {
	t.Helper()
	w, err := NewWoodbury(dim, cfg)
	require.NoError(t, err)
	return w
}

func f32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

func randVec(rng interface{ NormFloat64() float64 }, n int, scale float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(scale * rng.NormFloat64())
	}
	return v
}

// explicitInverse returns (λI + c·ΣhhT)⁻¹g in float64 with gonum.
func explicitInverse(t *testing.T, hist [][]float32, g []float32, lam, c float64) []float64 {
	t.Helper()
	k := len(g)
	f := mat.NewDense(k, k, nil)
	for i := range k {
		f.Set(i, i, lam)
	}
	for _, h := range hist {
		for i := range k {
			for j := range k {
				f.Set(i, j, f.At(i, j)+c*float64(h[i])*float64(h[j]))
			}
		}
	}
	gv := mat.NewVecDense(k, nil)
	for i, v := range g {
		gv.SetVec(i, float64(v))
	}
	var x mat.VecDense
	require.NoError(t, x.SolveVec(f, gv))
	return x.RawVector().Data
}

func assertRel(t *testing.T, want []float64, got []float32, tol float64, msg ...any) {
	t.Helper()
	scale := 0.0
	for _, v := range want {
		scale = math.Max(scale, math.Abs(v))
	}
	for i := range want {
		assert.InDelta(t, want[i], float64(got[i]), tol*scale, msg...)
	}
}

// Golden G6: the transform with the current vector included in the history.
func TestWoodburyGoldenG6(t *testing.T) {
	hv := [][]float64{{0.3, -0.1, 0.2, 0.4}, {0.1, 0.2, -0.3, 0.1}, {-0.2, 0.3, 0.1, -0.1}}
	want := [][]float64{
		{0.996677740864, -0.332225913621, 0.664451827243, 1.32890365449},
		{0.729862627064, 1.30537364115, -1.94703534652, 0.751912857489},
		{-0.792128743427, 2.42273249363, 1.49915323963, 0.441932633207},
	}
	w := mustWoodbury(t, 4, WoodburyConfig{}) // defaults: λ = 1e-3, s = 20, sum
	var pushed [][]float32
	for s := range 3 {
		g := f32(hv[s])
		pushed = append(pushed, g)
		dst := make([]float32, 4)
		require.NoError(t, w.PushApply(dst, g))
		assert.Equal(t, s+1, w.Len())
		// float32 inputs differ from the decimal ones by 3e-8 relative.
		assertRel(t, want[s], dst, 2e-6, "s=%d", s+1)
		// Fisher identity (λI + HHᵀ)·g̃ = g on the float32 data.
		for i := range 4 {
			r := 1e-3 * float64(dst[i])
			for _, h := range pushed {
				hd := 0.0
				for j := range 4 {
					hd += float64(h[j]) * float64(dst[j])
				}
				r += float64(h[i]) * hd
			}
			assert.InDelta(t, float64(g[i]), r, 1e-6)
		}
	}
}

// The transform equals the explicit inverse, with sum and mean Fisher.
func TestWoodburyExplicitInverse(t *testing.T) {
	rng := newRNG(50)
	for _, mean := range []bool{false, true} {
		for _, c := range []struct {
			k, s, pushes int
			lam          float64
		}{{7, 4, 3, 1e-3}, {7, 4, 6, 0.5}, {12, 3, 3, 1e-2}, {5, 8, 8, 1e-3}} {
			w := mustWoodbury(t, c.k, WoodburyConfig{History: c.s, Damping: c.lam, Mean: mean})
			var hist [][]float32
			for range c.pushes {
				h := randVec(rng, c.k, 1)
				require.NoError(t, w.Push(h))
				hist = append(hist, h)
			}
			if len(hist) > c.s {
				hist = hist[len(hist)-c.s:]
			}
			g := randVec(rng, c.k, 1)
			dst := make([]float32, c.k)
			require.NoError(t, w.Apply(dst, g))
			scale := 1.0
			if mean {
				scale = 1 / float64(len(hist))
			}
			want := explicitInverse(t, hist, g, c.lam, scale)
			assertRel(t, want, dst, 1e-6, "%+v mean=%v", c, mean)
		}
	}
}

func TestWoodburyEmptyAndSingle(t *testing.T) {
	w := mustWoodbury(t, 3, WoodburyConfig{Damping: 0.5})
	g := []float32{1, -2, 4}
	dst := make([]float32, 3)
	require.NoError(t, w.Apply(dst, g))
	assert.Equal(t, []float32{2, -4, 8}, dst) // s = 0: g/λ
	// s = 1 closed form: g/(λ + ‖g‖²).
	require.NoError(t, w.PushApply(dst, g))
	for i := range 3 {
		assert.InDelta(t, float64(g[i])/(0.5+21), float64(dst[i]), 1e-7)
	}
	w.Reset()
	assert.Equal(t, 0, w.Len())
	require.NoError(t, w.Apply(dst, g))
	assert.Equal(t, []float32{2, -4, 8}, dst)
}

// FIFO: the history holds the last s vectors; the result equals that of a fresh
// history fed only those, bit for bit.
func TestWoodburyFIFO(t *testing.T) {
	rng := newRNG(51)
	const k, s = 9, 4
	w := mustWoodbury(t, k, WoodburyConfig{History: s})
	var all [][]float32
	for i := range 11 {
		h := randVec(rng, k, 0.1)
		all = append(all, h)
		require.NoError(t, w.Push(h))
		assert.Equal(t, min(i+1, s), w.Len())
	}
	fresh := mustWoodbury(t, k, WoodburyConfig{History: s})
	for _, h := range all[len(all)-s:] {
		require.NoError(t, fresh.Push(h))
	}
	g := randVec(rng, k, 0.1)
	d1, d2 := make([]float32, k), make([]float32, k)
	require.NoError(t, w.Apply(d1, g))
	require.NoError(t, fresh.Apply(d2, g))
	assert.Equal(t, d2, d1)
	assert.Equal(t, fresh.State().History.Data, w.State().History.Data)
}

// PushApply = Push then Apply, Apply leaves the history alone, dst may alias g.
func TestWoodburyPushApplyEquivalence(t *testing.T) {
	rng := newRNG(52)
	const k = 6
	w1 := mustWoodbury(t, k, WoodburyConfig{History: 3})
	w2 := mustWoodbury(t, k, WoodburyConfig{History: 3})
	for range 5 {
		g := randVec(rng, k, 0.3)
		d1, d2 := make([]float32, k), make([]float32, k)
		require.NoError(t, w1.PushApply(d1, g))
		require.NoError(t, w2.Push(g))
		n := w2.Len()
		require.NoError(t, w2.Apply(d2, g))
		assert.Equal(t, n, w2.Len())
		assert.Equal(t, d1, d2)
		alias := append([]float32(nil), g...)
		require.NoError(t, w2.Apply(alias, alias))
		assert.Equal(t, d2, alias)
	}
}

// Large damping: g̃ → g/λ (spec §4.6-3).
func TestWoodburyLargeDamping(t *testing.T) {
	rng := newRNG(53)
	w := mustWoodbury(t, 5, WoodburyConfig{Damping: 1e6})
	for range 3 {
		require.NoError(t, w.Push(randVec(rng, 5, 1)))
	}
	g := randVec(rng, 5, 1)
	dst := make([]float32, 5)
	require.NoError(t, w.Apply(dst, g))
	for i := range g {
		assert.InDelta(t, float64(g[i]), 1e6*float64(dst[i]), 1e-5)
	}
}

// A duplicated history vector with ‖h‖²/λ = 1e17 makes the s x s Cholesky fail
// in float64. F is then too ill-conditioned for float64 (cond·eps ≈ 10), so
// only a finite result along the right direction can be asked for; the
// jitter fallback gives that instead of an error or NaN.
func TestWoodburyIllConditioned(t *testing.T) {
	const k = 4
	h := []float32{2e4, -1e4, 3e4, 1e4} // ‖h‖² = 1.5e9
	lam := 1.5e-8                       // ‖h‖²/λ = 1e17
	w := mustWoodbury(t, k, WoodburyConfig{History: 4, Damping: lam})
	require.NoError(t, w.Push(h))
	require.NoError(t, w.Push(h))
	dst := make([]float32, k)
	require.NoError(t, w.Apply(dst, h))
	assert.Equal(t, 1, w.Jitters())
	hd, dd, nn := 0.0, 0.0, 0.0
	for i := range k {
		require.False(t, math.IsNaN(float64(dst[i])) || math.IsInf(float64(dst[i]), 0))
		hd += float64(h[i]) * float64(dst[i])
		dd += float64(dst[i]) * float64(dst[i])
		nn += float64(h[i]) * float64(h[i])
	}
	assert.Greater(t, hd/math.Sqrt(dd*nn), 0.999)
	// A well-conditioned problem needs no jitter.
	w2 := mustWoodbury(t, k, WoodburyConfig{})
	require.NoError(t, w2.PushApply(dst, []float32{1, 2, 3, 4}))
	require.NoError(t, w2.PushApply(dst, []float32{1, 2, 3, 4}))
	assert.Equal(t, 0, w2.Jitters())
}

func TestWoodburyNonFinite(t *testing.T) {
	w := mustWoodbury(t, 3, WoodburyConfig{})
	require.NoError(t, w.Push([]float32{1, 2, 3}))
	dst := make([]float32, 3)
	bad := []float32{1, float32(math.NaN()), 3}
	assert.True(t, errors.Is(w.Push(bad), ErrNotFinite))
	assert.True(t, errors.Is(w.PushApply(dst, bad), ErrNotFinite))
	bad[1] = float32(math.Inf(1))
	assert.True(t, errors.Is(w.Apply(dst, bad), ErrNotFinite))
	assert.Equal(t, 1, w.Len())
	assert.Equal(t, []float32{1, 2, 3}, w.State().History.Data)
}

func TestWoodburyStateRoundTrip(t *testing.T) {
	rng := newRNG(54)
	const k = 8
	a := mustWoodbury(t, k, WoodburyConfig{History: 3})
	for range 5 { // wrapped ring buffer
		require.NoError(t, a.Push(randVec(rng, k, 0.2)))
	}
	st := a.State()
	assert.Equal(t, 3, st.History.Rows)
	assert.Equal(t, 3*k*4, a.StateBytes())
	b := mustWoodbury(t, k, WoodburyConfig{History: 3})
	require.NoError(t, b.SetState(st))
	for range 4 {
		g := randVec(rng, k, 0.2)
		d1, d2 := make([]float32, k), make([]float32, k)
		require.NoError(t, a.PushApply(d1, g))
		require.NoError(t, b.PushApply(d2, g))
		assert.Equal(t, d1, d2)
	}
	assert.Error(t, b.SetState(WoodburyState{History: NewMatrix(4, k)}))
	assert.Error(t, b.SetState(WoodburyState{History: NewMatrix(2, k+1)}))
	bad := NewMatrix(1, k)
	bad.Data[0] = float32(math.NaN())
	assert.True(t, errors.Is(b.SetState(WoodburyState{History: bad}), ErrNotFinite))
	assert.Equal(t, 3, b.Len())
	require.NoError(t, b.SetState(WoodburyState{}))
	assert.Equal(t, 0, b.Len())
}

func TestWoodburyConfig(t *testing.T) {
	w := mustWoodbury(t, 10, WoodburyConfig{})
	assert.Equal(t, DefaultHistory, w.History())
	assert.Equal(t, DefaultDamping, w.Damping())
	assert.Equal(t, 10, w.Dim())
	assert.Equal(t, 4*20*10+8*(2*400+20), w.Bytes())
	for _, bad := range []WoodburyConfig{{History: -1}, {Damping: -1}, {Damping: math.NaN()}, {Damping: math.Inf(1)}} {
		_, err := NewWoodbury(10, bad)
		assert.Error(t, err, "%+v", bad)
	}
	_, err := NewWoodbury(0, WoodburyConfig{})
	assert.Error(t, err)
	assert.Panics(t, func() { _ = w.Push(make([]float32, 9)) })
	assert.Panics(t, func() { _ = w.Apply(make([]float32, 9), make([]float32, 10)) })
}

func TestWoodburyNoAllocs(t *testing.T) {
	rng := newRNG(55)
	const k = 300
	w := mustWoodbury(t, k, WoodburyConfig{History: 5})
	g := randVec(rng, k, 1)
	dst := make([]float32, k)
	allocs := testing.AllocsPerRun(20, func() {
		_ = w.PushApply(dst, g)
		_ = w.Apply(dst, g)
	})
	assert.Zero(t, allocs)
}
