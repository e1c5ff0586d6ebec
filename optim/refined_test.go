package optim

import (
	"math"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// G7 of the spec.
func TestGoldenG7Refinement(t *testing.T) {
	g := []float64{4, 2, 1, 1, 1, 1, 1, 1}
	raw, norm := refine(g, 2)
	assert.InDeltaSlice(t, []float64{0.0618811881188, 0.237623762376, 0.792079207921, 0.633663366337, 0.475247524752, 0.316831683168, 0.158415841584, 0}, raw, 1e-12)
	assert.InDeltaSlice(t, []float64{0.078125, 0.3, 1, 0.8, 0.6, 0.4, 0.2, 0}, norm, 1e-12)
	_, norm = refine(g, 1)
	assert.InDeltaSlice(t, []float64{0.325, 0.6, 1, 0.8, 0.6, 0.4, 0.2, 0}, norm, 1e-12)

	r, err := NewRefined(g, RefinedConfig{Power: 2})
	require.NoError(t, err)
	for step, want := range []float64{0.078125, 0.3, 1, 0.8, 0.6, 0.4, 0.2, 0} {
		assert.InDelta(t, want, r.Factor(step), 1e-12, "step %d", step)
	}
	assert.Equal(t, 0.0, r.Factor(100))
}

// Constant gradient norms give the linear decay (T−1−t)/(T−1), for both
// weightings, with or without smoothing, at any length.
func TestRefinedConstantNormsGiveLinearDecay(t *testing.T) {
	for _, tc := range []struct {
		n, total int
		g        float64
		smooth   bool
	}{
		{5, 5, 1, false},
		{5, 5, 3.7, false},
		{100, 100, 0.25, false},
		{5, 41, 2, false},
		{300, 1000, 1.5, true},
		{20000, 20000, 1, true},
	} {
		norms := make([]float64, tc.n)
		for i := range norms {
			norms[i] = tc.g
		}
		for _, power := range []float64{1, 2} {
			r, err := NewRefined(norms, RefinedConfig{Power: power, Total: tc.total, Smooth: tc.smooth})
			require.NoError(t, err)
			for step := range tc.total + 2 {
				want := max(0, float64(tc.total-1-step)/float64(tc.total-1))
				if tc.g == 1 && !tc.smooth && tc.n == tc.total {
					assert.Equal(t, want, r.Factor(step), "%+v power %v step %d", tc, power, step)
				} else if !assert.InDelta(t, want, r.Factor(step), 1e-12, "%+v power %v step %d", tc, power, step) {
					break
				}
			}
		}
	}
}

// Large early norms make the refined schedule warm up by itself.
func TestRefinedWarmsUp(t *testing.T) {
	norms := make([]float64, 200)
	for i := range norms {
		norms[i] = 1 + 10*math.Exp(-float64(i)/10)
	}
	r, err := NewRefined(norms, RefinedConfig{Power: 2})
	require.NoError(t, err)
	f := r.Factors()
	peak := slices.Index(f, 1.0)
	assert.Greater(t, peak, 10)
	assert.Less(t, f[0], 0.1)
	for i := 1; i <= peak; i++ {
		assert.GreaterOrEqual(t, f[i], f[i-1], "rises to its peak at %d", peak)
	}
}

// naiveMedianFilter is scipy.ndimage.median_filter(x, size=width,
// mode="nearest") by sorting every window.
func naiveMedianFilter(x []float64, width int) []float64 {
	h := width / 2
	out := make([]float64, len(x))
	win := make([]float64, width)
	for i := range x {
		for k := range win {
			win[k] = x[min(max(i-h+k, 0), len(x)-1)]
		}
		slices.Sort(win)
		out[i] = win[h]
	}
	return out
}

func TestMedianFilter(t *testing.T) {
	rng := newRand(80)
	x := make([]float64, 500)
	for i := range x {
		x[i] = rng.ExpFloat64()
		if i%37 == 0 {
			x[i] *= 100 // spikes
		}
		if i%11 == 0 {
			x[i] = x[max(i-1, 0)] // ties
		}
	}
	for _, w := range []int{1, 3, 51, 501, 1001} {
		assert.Equal(t, naiveMedianFilter(x, w), medianFilter(x, w), "width %d", w)
	}
}

func TestReflectPadding(t *testing.T) {
	// numpy.pad([1, 2, 3, 4], (0, 8), mode="reflect")
	want := []float64{1, 2, 3, 4, 3, 2, 1, 2, 3, 4, 3, 2}
	src := []float64{1, 2, 3, 4}
	for i, w := range want {
		assert.Equal(t, w, src[reflectIndex(i, len(src))], "index %d", i)
	}
}

// Smoothing removes spikes shorter than half the filter window.
func TestRefinedSmoothingIgnoresSpikes(t *testing.T) {
	norms := make([]float64, 3000)
	for i := range norms {
		norms[i] = 2
		if i%100 == 50 { // (the first element is the edge value: it must not be a spike)
			norms[i] = 50
		}
	}
	r, err := NewRefined(norms, RefinedConfig{Smooth: true})
	require.NoError(t, err)
	assert.Len(t, r.Factors(), refineSamples)
	for step := range 3000 {
		if !assert.InDelta(t, float64(2999-step)/2999, r.Factor(step), 1e-9, "step %d", step) {
			break
		}
	}
}

func TestRefinedErrors(t *testing.T) {
	for _, tc := range []struct {
		norms []float64
		cfg   RefinedConfig
		want  string
	}{
		{[]float64{1}, RefinedConfig{}, "at least 2 steps, have 1"},
		{[]float64{1, 0, 2}, RefinedConfig{}, "gradient norm 0 at step 1 must be positive and finite"},
		{[]float64{1, math.NaN()}, RefinedConfig{}, "gradient norm NaN at step 1"},
		{[]float64{1, 2}, RefinedConfig{Power: -1}, "power -1"},
		{[]float64{1, 2}, RefinedConfig{Total: 1}, "total steps 1 must be at least 2"},
	} {
		_, err := NewRefined(tc.norms, tc.cfg)
		assert.ErrorContains(t, err, tc.want)
	}
}
