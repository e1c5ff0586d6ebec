package tensor

import (
	"math"
	"slices"
)

// AllClose reports whether a and b have the same shape and every pair of
// elements satisfies |a-b| <= atol + rtol*|b| (NumPy's rule). NaNs are never
// close; infinities are close only to an equal infinity.
func AllClose(a, b *Tensor, rtol, atol float64) bool {
	if !slices.Equal(a.shape, b.shape) {
		return false
	}
	ok := true
	forEach2(a, b, func(i, j int) {
		x, y := float64(a.data[i]), float64(b.data[j])
		if x == y {
			return
		}
		if math.IsNaN(x) || math.IsNaN(y) || math.IsInf(x, 0) || math.IsInf(y, 0) || math.Abs(x-y) > atol+rtol*math.Abs(y) {
			ok = false
		}
	})
	return ok
}

// MaxAbsDiff returns the largest |a-b| over elements of two tensors of the
// same shape (NaN if any pair involves a NaN; equal infinities differ by 0,
// as AllClose counts them close). Tensors of different shapes differ by +Inf.
func MaxAbsDiff(a, b *Tensor) float64 {
	if !slices.Equal(a.shape, b.shape) {
		return math.Inf(1)
	}
	var m float64
	forEach2(a, b, func(i, j int) {
		x, y := float64(a.data[i]), float64(b.data[j])
		if x == y {
			return
		}
		d := math.Abs(x - y)
		if math.IsNaN(d) || d > m {
			m = d
		}
	})
	return m
}

// Equal reports whether a and b have the same shape and bitwise equal elements.
func Equal(a, b *Tensor) bool {
	if !slices.Equal(a.shape, b.shape) {
		return false
	}
	eq := true
	forEach2(a, b, func(i, j int) {
		if math.Float32bits(a.data[i]) != math.Float32bits(b.data[j]) {
			eq = false
		}
	})
	return eq
}
