package kernels

import (
	"fmt"
	"math"
)

// reduceBlock is the fixed block size of reductions: partial results are
// computed per block and added in block order, so the result does not depend
// on the number of threads.
const reduceBlock = 8192

// Sum returns the sum of a.
func Sum(a []float32) float32 {
	if len(a) <= reduceBlock {
		return active.sum(a)
	}
	var total float64
	for lo := 0; lo < len(a); lo += reduceBlock {
		total += float64(active.sum(a[lo:min(lo+reduceBlock, len(a))]))
	}
	return float32(total)
}

// Dot returns the inner product of a and b.
func Dot(a, b []float32) float32 {
	if len(a) != len(b) {
		panic(fmt.Sprintf("kernels.Dot: length mismatch: a %d, b %d", len(a), len(b)))
	}
	if len(a) <= reduceBlock {
		return active.dot(a, b)
	}
	var total float64
	for lo := 0; lo < len(a); lo += reduceBlock {
		hi := min(lo+reduceBlock, len(a))
		total += float64(active.dot(a[lo:hi], b[lo:hi]))
	}
	return float32(total)
}

// Max returns the largest element of a, or -Inf for an empty slice; NaN
// elements are ignored.
func Max(a []float32) float32 {
	if len(a) == 0 {
		return float32(math.Inf(-1))
	}
	return active.maxVal(a)
}

func sumGeneric(a []float32) float32 {
	// Four accumulators: faster and more accurate than one.
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i]
		s1 += a[i+1]
		s2 += a[i+2]
		s3 += a[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func dotGeneric(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func maxGeneric(a []float32) float32 {
	m := float32(math.Inf(-1))
	for _, v := range a {
		if v > m {
			m = v
		}
	}
	return m
}
