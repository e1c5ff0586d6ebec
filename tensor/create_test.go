package tensor_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/tensor"
)

func TestZerosOnesFullScalar(t *testing.T) {
	assert.Equal(t, []float32{0, 0, 0, 0, 0, 0}, tensor.Zeros(2, 3).Data())
	assert.Equal(t, []float32{1, 1, 1}, tensor.Ones(3).Data())
	f := tensor.Full(2.5, 2, 2)
	assert.Equal(t, []int{2, 2}, f.Shape())
	assert.Equal(t, []float32{2.5, 2.5, 2.5, 2.5}, f.Data())
	assert.Equal(t, []int{}, tensor.Full(3).Shape())
	assert.Equal(t, float32(3), tensor.Full(3).Item())
	s := tensor.Scalar(-4)
	assert.Equal(t, 0, s.Dim())
	assert.Equal(t, []int{}, s.Shape())
	assert.Equal(t, float32(-4), s.Item())
	assert.Empty(t, tensor.Ones(0, 2).Data())
	assertPanicMentions(t, func() { tensor.Ones(2, -2) }, "[2 -2]")
}

func TestArange(t *testing.T) {
	tests := []struct {
		start, end, step float32
		want             []float32
	}{
		{0, 5, 1, []float32{0, 1, 2, 3, 4}},
		{2, 3, 1, []float32{2}},
		{0, 1, 0.25, []float32{0, 0.25, 0.5, 0.75}},
		{1, 2, 0.3, []float32{1, 1 + 0.3, 1 + 2*float32(0.3), 1 + 3*float32(0.3)}},
		{5, 0, -1, []float32{5, 4, 3, 2, 1}},
		{0, -1, -0.5, []float32{0, -0.5}},
		{0, 4.5, 1.5, []float32{0, 1.5, 3}},
		{-1, 1, 2, []float32{-1}},
		{0, 0, 1, []float32{}},
		{3, 3, -1, []float32{}},
	}
	for _, tc := range tests {
		x := tensor.Arange(tc.start, tc.end, tc.step)
		require.Equal(t, []int{len(tc.want)}, x.Shape(), "Arange(%v, %v, %v)", tc.start, tc.end, tc.step)
		assert.Equal(t, tc.want, x.Data(), "Arange(%v, %v, %v)", tc.start, tc.end, tc.step)
	}

	// Float steps accumulate no drift: element i is start + i*step, and the
	// last element is below end.
	x := tensor.Arange(0, 1, 0.1)
	require.Equal(t, []int{10}, x.Shape())
	for i, v := range x.Data() {
		assert.Equal(t, float32(i)*float32(0.1), v)
	}

	// Against a naive count for random ranges: every element is before end
	// and the next one would not be.
	rng := newRNG(9)
	for range 2000 {
		start := float32(rng.NormFloat64() * 10)
		step := float32(rng.NormFloat64())
		end := start + step*float32(rng.IntN(300)) + float32(rng.NormFloat64())*step
		if step == 0 || (end-start)/step < 0 {
			continue
		}
		before := func(v float32) bool { return (step > 0 && v < end) || (step < 0 && v > end) }
		var want []float32
		for i := 0; before(start + float32(i)*step); i++ {
			want = append(want, start+float32(i)*step)
		}
		got := tensor.Arange(start, end, step)
		require.Equal(t, []int{len(want)}, got.Shape(), "Arange(%v, %v, %v)", start, end, step)
		if len(want) > 0 {
			assert.Equal(t, want, got.Data())
		}
	}

	assertPanicMentions(t, func() { tensor.Arange(0, 3e38, 1) }, "tensor.Arange", "too many")
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	for _, tc := range [][3]float32{
		{0, 1, 0}, {0, 1, -1}, {1, 0, 1},
		{0, inf, 1}, {-inf, 0, 1}, {0, 1, inf}, {nan, 1, 1}, {0, nan, 1}, {0, 1, nan},
	} {
		assertPanicMentions(t, func() { tensor.Arange(tc[0], tc[1], tc[2]) }, "tensor.Arange")
	}
}

func TestRandDeterministic(t *testing.T) {
	for name, gen := range map[string]func(seed uint64) *tensor.Tensor{
		"Rand":    func(seed uint64) *tensor.Tensor { return tensor.Rand(newRNG(seed), 3, 4) },
		"Randn":   func(seed uint64) *tensor.Tensor { return tensor.Randn(newRNG(seed), 3, 4) },
		"Uniform": func(seed uint64) *tensor.Tensor { return tensor.Uniform(newRNG(seed), -2, 3, 3, 4) },
	} {
		a, b, c := gen(1), gen(1), gen(2)
		assert.Equal(t, []int{3, 4}, a.Shape(), name)
		assert.True(t, tensor.Equal(a, b), "%s: same seed, different values", name)
		assert.False(t, tensor.Equal(a, c), "%s: different seeds, same values", name)
	}
	assertPanicMentions(t, func() { tensor.Rand(nil, 2) }, "tensor.Rand", "nil")
	assertPanicMentions(t, func() { tensor.Randn(nil, 2) }, "tensor.Randn", "nil")
	assertPanicMentions(t, func() { tensor.Uniform(nil, 0, 1, 2) }, "tensor.Uniform", "nil")
	assertPanicMentions(t, func() { tensor.Randn(newRNG(1), 2, -1) }, "[2 -1]")

	// Consecutive draws from one source differ.
	rng := newRNG(3)
	assert.False(t, tensor.Equal(tensor.Randn(rng, 5), tensor.Randn(rng, 5)))
}

// moments returns the mean and variance of x's elements, and its extremes.
func moments(x *tensor.Tensor) (mean, variance, lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	d := x.Data()
	for _, v := range d {
		mean += float64(v)
		lo, hi = min(lo, float64(v)), max(hi, float64(v))
	}
	mean /= float64(len(d))
	for _, v := range d {
		variance += (float64(v) - mean) * (float64(v) - mean)
	}
	return mean, variance / float64(len(d)), lo, hi
}

func TestRandMoments(t *testing.T) {
	const n = 200000
	// With n samples the standard error of the mean is sigma/sqrt(n) ~ 0.002
	// sigma: the bounds below are more than five standard errors wide.
	mean, v, lo, hi := moments(tensor.Rand(newRNG(10), n))
	assert.InDelta(t, 0.5, mean, 0.005)
	assert.InDelta(t, 1.0/12, v, 0.002)
	assert.GreaterOrEqual(t, lo, 0.0)
	assert.Less(t, hi, 1.0)

	mean, v, _, _ = moments(tensor.Randn(newRNG(11), n))
	assert.InDelta(t, 0, mean, 0.012)
	assert.InDelta(t, 1, v, 0.02)

	mean, v, lo, hi = moments(tensor.Uniform(newRNG(12), -3, 5, n))
	assert.InDelta(t, 1, mean, 0.04)
	assert.InDelta(t, 64.0/12, v, 0.1)
	assert.GreaterOrEqual(t, lo, -3.0)
	assert.Less(t, hi, 5.0)
}
