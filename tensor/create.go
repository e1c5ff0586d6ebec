package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Zeros returns a tensor of zeros.
func Zeros(shape ...int) *Tensor { return New(shape...) }

// Ones returns a tensor of ones.
func Ones(shape ...int) *Tensor { return Full(1, shape...) }

// Full returns a tensor with every element v.
func Full(v float32, shape ...int) *Tensor {
	t := New(shape...)
	t.Fill(v)
	return t
}

// Scalar returns a 0-dimensional tensor holding v.
func Scalar(v float32) *Tensor { return FromSlice([]float32{v}) }

// Arange returns the 1-D tensor start, start+step, ... up to but excluding end.
func Arange(start, end, step float32) *Tensor {
	finite := func(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }
	if step == 0 || !finite(start) || !finite(end) || !finite(step) || (end-start)/step < 0 {
		panic(fmt.Sprintf("tensor.Arange: empty or endless range start=%v end=%v step=%v", start, end, step))
	}
	before := func(v float32) bool { return (step > 0 && v < end) || (step < 0 && v > end) }
	// Estimate the count in float64, then settle it on the float32 values
	// the elements will have: the first i with start+i*step past end.
	c := math.Ceil((float64(end) - float64(start)) / float64(step))
	if c > 1<<40 {
		panic(fmt.Sprintf("tensor.Arange: range start=%v end=%v step=%v has too many elements", start, end, step))
	}
	n := int(c)
	for n > 0 && !before(start+float32(n-1)*step) {
		n--
	}
	for before(start + float32(n)*step) {
		n++
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = start + float32(i)*step
	}
	return FromSlice(out, n)
}

// Rand returns a tensor of values drawn uniformly from [0, 1) by rng.
func Rand(rng *rand.Rand, shape ...int) *Tensor {
	checkRNG("tensor.Rand", rng, shape)
	t := New(shape...)
	for i := range t.data {
		t.data[i] = rng.Float32()
	}
	return t
}

// Randn returns a tensor of standard normal values drawn by rng.
func Randn(rng *rand.Rand, shape ...int) *Tensor {
	checkRNG("tensor.Randn", rng, shape)
	t := New(shape...)
	for i := range t.data {
		t.data[i] = float32(rng.NormFloat64())
	}
	return t
}

// Uniform returns a tensor of values drawn uniformly from [lo, hi) by rng.
func Uniform(rng *rand.Rand, lo, hi float32, shape ...int) *Tensor {
	checkRNG("tensor.Uniform", rng, shape)
	t := New(shape...)
	for i := range t.data {
		t.data[i] = lo + (hi-lo)*rng.Float32()
	}
	return t
}

func checkRNG(op string, rng *rand.Rand, shape []int) {
	if rng == nil {
		panic(fmt.Sprintf("%s: nil *rand.Rand for shape %v; pass a seeded source", op, shape))
	}
}
