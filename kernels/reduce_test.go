package kernels

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

// reduceLengths adds lengths that span several reduction blocks.
var reduceLengths = append(append([]int(nil), vecLengths...), reduceBlock, reduceBlock+1, 3*reduceBlock+5, 64*reduceBlock+11)

// smallInts returns n integers in [-k, k] as float32: their sums and products
// are exact in float32 as long as every partial sum stays below 2^24.
func smallInts(seed uint64, n, k int) []float32 {
	r := newTestRand(seed)
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.IntN(2*k+1) - k)
	}
	return s
}

func TestSumExactOnIntegers(t *testing.T) {
	onEveryPath(t, func(t *testing.T) {
		for _, n := range reduceLengths {
			a := smallInts(uint64(n), n, 7)
			var want float64
			for _, v := range a {
				want += float64(v)
			}
			// A dropped or doubled element changes the result by at least 1.
			assert.Equalf(t, float32(want), Sum(a), "n=%d", n)
		}
	})
}

func TestSumAccuracy(t *testing.T) {
	onEveryPath(t, func(t *testing.T) {
		r := newTestRand(10)
		for _, n := range reduceLengths {
			a := uniformSlice(r, n, -1, 3)
			var want, abs float64
			for _, v := range a {
				want += float64(v)
				abs += math.Abs(float64(v))
			}
			// Blocked summation with several accumulators: an error that
			// grows like sqrt(n) on random data, far below the n·eps bound.
			tol := (2*math.Sqrt(float64(n)) + 8) * epsF32 * abs
			assert.InDeltaf(t, want, float64(Sum(a)), tol, "n=%d", n)
		}
	})
}

func TestDotExactOnIntegers(t *testing.T) {
	onEveryPath(t, func(t *testing.T) {
		for _, n := range reduceLengths {
			a := smallInts(uint64(n)+1, n, 3)
			b := smallInts(uint64(n)+2, n, 3)
			var want float64
			for i := range a {
				want += float64(a[i]) * float64(b[i])
			}
			assert.Equalf(t, float32(want), Dot(a, b), "n=%d", n)
			assert.Equalf(t, Dot(b, a), Dot(a, b), "n=%d: Dot is symmetric", n)
		}
	})
}

func TestDotAccuracy(t *testing.T) {
	onEveryPath(t, func(t *testing.T) {
		r := newTestRand(11)
		for _, n := range reduceLengths {
			a := normalSlice(r, n, 0.1, 1)
			b := normalSlice(r, n, 0, 2)
			var want, abs float64
			for i := range a {
				p := float64(a[i]) * float64(b[i])
				want += p
				abs += math.Abs(p)
			}
			tol := (2*math.Sqrt(float64(n)) + 8) * epsF32 * abs
			assert.InDeltaf(t, want, float64(Dot(a, b)), tol, "n=%d", n)
		}
	})
}

func TestMax(t *testing.T) {
	onEveryPath(t, func(t *testing.T) {
		r := newTestRand(12)
		for _, n := range reduceLengths {
			if n == 0 {
				continue
			}
			a := uniformSlice(r, n, -1000, -1)
			// The largest value in every position class: first, inside the
			// vector body, and in the tail.
			for _, pos := range []int{0, n / 2, n - 1} {
				b := cloneF32(a)
				b[pos] = 5
				assert.Equalf(t, float32(5), Max(b), "n=%d max at %d", n, pos)
			}
			want := float32(math.Inf(-1))
			for _, v := range a {
				want = max(want, v)
			}
			assert.Equalf(t, want, Max(a), "n=%d", n)
		}
	})
}

func TestMaxSpecialValues(t *testing.T) {
	inf := float32(math.Inf(1))
	nan := float32(math.NaN())
	onEveryPath(t, func(t *testing.T) {
		assert.Equal(t, float32(math.Inf(-1)), Max(nil), "empty")
		for _, n := range []int{1, 8, 9, 33, 1000} {
			allNaN := make([]float32, n)
			for i := range allNaN {
				allNaN[i] = nan
			}
			assert.Equalf(t, float32(math.Inf(-1)), Max(allNaN), "n=%d all NaN: NaNs are ignored", n)

			a := smallInts(uint64(n), n, 50)
			for i := 0; i < n; i += 3 {
				a[i] = nan
			}
			want := float32(math.Inf(-1))
			for _, v := range a {
				if v == v {
					want = max(want, v)
				}
			}
			assert.Equalf(t, want, Max(a), "n=%d some NaN", n)

			neg := make([]float32, n)
			for i := range neg {
				neg[i] = float32(math.Inf(-1))
			}
			assert.Equalf(t, float32(math.Inf(-1)), Max(neg), "n=%d all -Inf", n)
			neg[n-1] = inf
			assert.Equalf(t, inf, Max(neg), "n=%d +Inf last", n)
		}
	})
}

func TestReductionsThreadsDoNotChangeResults(t *testing.T) {
	r := newTestRand(13)
	n := 40*reduceBlock + 77
	a := normalSlice(r, n, 0, 1)
	b := normalSlice(r, n, 0, 1)
	onEveryPath(t, func(t *testing.T) {
		var s1, s2, d1, d2, m1, m2 float32
		withThreads(1, func() { s1, d1, m1 = Sum(a), Dot(a, b), Max(a) })
		withThreads(2, func() { s2, d2, m2 = Sum(a), Dot(a, b), Max(a) })
		assert.True(t, sameBits(s1, s2), "Sum %g vs %g", s1, s2)
		assert.True(t, sameBits(d1, d2), "Dot %g vs %g", d1, d2)
		assert.True(t, sameBits(m1, m2), "Max %g vs %g", m1, m2)
	})
}

func TestDotLengthMismatchPanics(t *testing.T) {
	assertPanicsMentioning(t, func() { Dot(make([]float32, 3), make([]float32, 4)) }, "kernels.Dot:", "length mismatch", "3", "4")
}

func ExampleDot() {
	a := []float32{1, 2, 3}
	b := []float32{4, 5, 6}
	fmt.Println(Dot(a, b), Sum(a), Max(b))
	// Output: 32 6 6
}
