package kernels

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

// rowShapes are the (rows, cols) shapes the row kernels are tested on; the
// last ones are large enough to be split over threads.
var rowShapes = [][2]int{{0, 5}, {3, 0}, {1, 1}, {2, 7}, {3, 8}, {4, 9}, {5, 31}, {2, 33}, {3, 1000}, {64, 257}, {3, 5000}}

// softmaxInputs returns random rows plus rows with masked (-Inf) entries,
// huge magnitudes and ties.
func softmaxInputs(seed uint64, rows, cols int) []float32 {
	r := newTestRand(seed)
	x := normalSlice(r, rows*cols, 0, 3)
	ninf := float32(math.Inf(-1))
	for row := 0; row < rows && cols > 0; row++ {
		xr := x[row*cols : (row+1)*cols]
		switch row % 5 {
		case 1: // causal-style mask: everything after a point is -Inf
			for j := (row * 7) % cols; j < cols; j++ {
				if j > 0 {
					xr[j] = ninf
				}
			}
		case 2: // huge values of both signs
			for j := range xr {
				xr[j] *= 1e37
			}
		case 3: // all equal
			for j := range xr {
				xr[j] = 42
			}
		case 4: // large offset, small spread
			for j := range xr {
				xr[j] = 1e4 + xr[j]
			}
		}
	}
	return x
}

// softmaxRef returns the float64 max and sum of exp(x - max) of a row.
func softmaxRef(x []float32) (m, s float64) {
	m = math.Inf(-1)
	for _, v := range x {
		m = math.Max(m, float64(v))
	}
	for _, v := range x {
		s += math.Exp(float64(v) - m)
	}
	return m, s
}

func TestSoftmaxRows(t *testing.T) {
	onEveryPath(t, func(t *testing.T) {
		for _, sh := range rowShapes {
			rows, cols := sh[0], sh[1]
			x := softmaxInputs(uint64(rows*cols), rows, cols)
			got := make([]float32, rows*cols)
			SoftmaxRows(got, x, rows, cols)
		rowLoop:
			for r := 0; r < rows; r++ {
				xr, yr := x[r*cols:(r+1)*cols], got[r*cols:(r+1)*cols]
				m, s := softmaxRef(xr)
				for j := range xr {
					d := float64(xr[j]) - m
					want := math.Exp(d) / s
					// exp(x - m) is as exact as x - m is in float32.
					tol := want*(8*epsF32+epsF32*math.Abs(d)) + 0x1p-140
					if !inDelta(t, want, float64(yr[j]), tol, "[%d %d] row %d col %d x=%g", rows, cols, r, j, xr[j]) {
						break rowLoop
					}
				}
			}
			in := cloneF32(x)
			SoftmaxRows(in, in, rows, cols)
			assertSameSlices(t, got, in, fmt.Sprintf("SoftmaxRows [%d %d] in place", rows, cols))
		}
	})
}

func TestLogSoftmaxRows(t *testing.T) {
	onEveryPath(t, func(t *testing.T) {
		for _, sh := range rowShapes {
			rows, cols := sh[0], sh[1]
			x := softmaxInputs(uint64(rows*cols)+1, rows, cols)
			got := make([]float32, rows*cols)
			LogSoftmaxRows(got, x, rows, cols)
		rowLoop:
			for r := 0; r < rows; r++ {
				xr, yr := x[r*cols:(r+1)*cols], got[r*cols:(r+1)*cols]
				m, s := softmaxRef(xr)
				ls := math.Log(s)
				for j := range xr {
					d := float64(xr[j]) - m
					want := d - ls
					if math.IsInf(want, -1) {
						if !assert.Equalf(t, float32(math.Inf(-1)), yr[j], "[%d %d] row %d col %d masked", rows, cols, r, j) {
							break rowLoop
						}
						continue
					}
					tol := 4 * epsF32 * (math.Abs(d) + ls + math.Abs(want) + 1)
					if !inDelta(t, want, float64(yr[j]), tol, "[%d %d] row %d col %d x=%g", rows, cols, r, j, xr[j]) {
						break rowLoop
					}
				}
			}
			in := cloneF32(x)
			LogSoftmaxRows(in, in, rows, cols)
			assertSameSlices(t, got, in, fmt.Sprintf("LogSoftmaxRows [%d %d] in place", rows, cols))
		}
	})
}

func TestSoftmaxOfFullyMaskedRowIsNaN(t *testing.T) {
	// Like PyTorch: a row with no finite entry has no distribution.
	ninf := float32(math.Inf(-1))
	onEveryPath(t, func(t *testing.T) {
		for _, cols := range []int{1, 8, 13} {
			x := make([]float32, cols)
			for j := range x {
				x[j] = ninf
			}
			y := make([]float32, cols)
			SoftmaxRows(y, x, 1, cols)
			for _, v := range y {
				assert.True(t, math.IsNaN(float64(v)), "softmax of an all -Inf row: got %g", v)
			}
			LogSoftmaxRows(y, x, 1, cols)
			for _, v := range y {
				assert.True(t, math.IsNaN(float64(v)), "log-softmax of an all -Inf row: got %g", v)
			}
		}
	})
}

func TestSoftmaxRowsBackward(t *testing.T) {
	onEveryPath(t, func(t *testing.T) {
		for _, sh := range rowShapes {
			rows, cols := sh[0], sh[1]
			r := newTestRand(uint64(rows*cols) + 2)
			y := make([]float32, rows*cols)
			SoftmaxRows(y, normalSlice(r, rows*cols, 0, 2), rows, cols)
			dy := normalSlice(r, rows*cols, 0, 1)
			got := make([]float32, rows*cols)
			SoftmaxRowsBackward(got, y, dy, rows, cols)
			n := float64(cols)
		rowLoop:
			for row := 0; row < rows; row++ {
				yr, dyr, gr := y[row*cols:(row+1)*cols], dy[row*cols:(row+1)*cols], got[row*cols:(row+1)*cols]
				var s, abs float64
				for j := range yr {
					p := float64(dyr[j]) * float64(yr[j])
					s += p
					abs += math.Abs(p)
				}
				for j := range yr {
					yj, dj := float64(yr[j]), float64(dyr[j])
					want := yj * (dj - s)
					tol := 4*epsF32*(math.Abs(want)+yj*math.Abs(dj)) + yj*(2*math.Sqrt(n)+8)*epsF32*abs
					if !inDelta(t, want, float64(gr[j]), tol, "[%d %d] row %d col %d", rows, cols, row, j) {
						break rowLoop
					}
				}
			}
			d := cloneF32(dy)
			SoftmaxRowsBackward(d, y, d, rows, cols)
			assertSameSlices(t, got, d, fmt.Sprintf("SoftmaxRowsBackward [%d %d] dx==dy", rows, cols))
		}
	})
}

func TestLogSoftmaxRowsBackward(t *testing.T) {
	onEveryPath(t, func(t *testing.T) {
		for _, sh := range rowShapes {
			rows, cols := sh[0], sh[1]
			r := newTestRand(uint64(rows*cols) + 3)
			y := make([]float32, rows*cols)
			LogSoftmaxRows(y, normalSlice(r, rows*cols, 0, 2), rows, cols)
			dy := normalSlice(r, rows*cols, 0, 1)
			got := make([]float32, rows*cols)
			LogSoftmaxRowsBackward(got, y, dy, rows, cols)
			n := float64(cols)
		rowLoop:
			for row := 0; row < rows; row++ {
				yr, dyr, gr := y[row*cols:(row+1)*cols], dy[row*cols:(row+1)*cols], got[row*cols:(row+1)*cols]
				var s, abs float64
				for _, v := range dyr {
					s += float64(v)
					abs += math.Abs(float64(v))
				}
				for j := range yr {
					p := math.Exp(float64(yr[j]))
					want := float64(dyr[j]) - p*s
					tol := 4*epsF32*(math.Abs(float64(dyr[j]))+math.Abs(p*s)) + p*(2*math.Sqrt(n)+8)*epsF32*abs
					if !inDelta(t, want, float64(gr[j]), tol, "[%d %d] row %d col %d", rows, cols, row, j) {
						break rowLoop
					}
				}
			}
			d := cloneF32(dy)
			LogSoftmaxRowsBackward(d, y, d, rows, cols)
			assertSameSlices(t, got, d, fmt.Sprintf("LogSoftmaxRowsBackward [%d %d] dx==dy", rows, cols))
		}
	})
}

func TestSoftmaxBackwardMatchesFiniteDifferences(t *testing.T) {
	// L = sum(w * softmax(x)) (and the same for log-softmax): the backward
	// kernels applied to dy = w must give dL/dx.
	onEveryPath(t, func(t *testing.T) {
		r := newTestRand(14)
		const cols = 11
		x := normalSlice(r, cols, 0, 1)
		w := normalSlice(r, cols, 0, 1)
		for _, k := range []struct {
			name   string
			fwd    func(dst, src []float32, rows, cols int)
			bwd    func(dx, y, dy []float32, rows, cols int)
			loss64 func(x []float64) float64
		}{
			{"softmax", SoftmaxRows, SoftmaxRowsBackward, func(x []float64) float64 {
				m, s := maxSum64(x)
				var l float64
				for j, v := range x {
					l += float64(w[j]) * math.Exp(v-m) / s
				}
				return l
			}},
			{"log-softmax", LogSoftmaxRows, LogSoftmaxRowsBackward, func(x []float64) float64 {
				m, s := maxSum64(x)
				var l float64
				for j, v := range x {
					l += float64(w[j]) * (v - m - math.Log(s))
				}
				return l
			}},
		} {
			y := make([]float32, cols)
			k.fwd(y, x, 1, cols)
			dx := make([]float32, cols)
			k.bwd(dx, y, w, 1, cols)
			x64 := make([]float64, cols)
			for j := range x {
				x64[j] = float64(x[j])
			}
			for j := range x64 {
				const h = 1e-6
				orig := x64[j]
				x64[j] = orig + h
				lp := k.loss64(x64)
				x64[j] = orig - h
				lm := k.loss64(x64)
				x64[j] = orig
				assert.InDeltaf(t, (lp-lm)/(2*h), float64(dx[j]), 1e-5, "%s: dL/dx[%d]", k.name, j)
			}
		}
	})
}

func maxSum64(x []float64) (m, s float64) {
	m = math.Inf(-1)
	for _, v := range x {
		m = math.Max(m, v)
	}
	for _, v := range x {
		s += math.Exp(v - m)
	}
	return m, s
}

func TestRowKernelsThreadsDoNotChangeResults(t *testing.T) {
	const rows, cols = 300, 129
	x := softmaxInputs(15, rows, cols)
	r := newTestRand(16)
	dy := normalSlice(r, rows*cols, 0, 1)
	gamma := normalSlice(r, cols, 1, 0.2)
	beta := normalSlice(r, cols, 0, 0.2)
	xn := normalSlice(r, rows*cols, 0.5, 2)
	run := func() [][]float32 {
		y := make([]float32, rows*cols)
		ly := make([]float32, rows*cols)
		dx := make([]float32, rows*cols)
		ldx := make([]float32, rows*cols)
		SoftmaxRows(y, x, rows, cols)
		LogSoftmaxRows(ly, x, rows, cols)
		SoftmaxRowsBackward(dx, y, dy, rows, cols)
		LogSoftmaxRowsBackward(ldx, ly, dy, rows, cols)
		ln := make([]float32, rows*cols)
		mean, rstd := make([]float32, rows), make([]float32, rows)
		LayerNorm(ln, mean, rstd, xn, gamma, beta, rows, cols, 1e-5)
		lnDx, dg, db := make([]float32, rows*cols), make([]float32, cols), make([]float32, cols)
		LayerNormBackward(lnDx, dg, db, dy, xn, mean, rstd, gamma, rows, cols)
		rms, rrstd := make([]float32, rows*cols), make([]float32, rows)
		RMSNorm(rms, rrstd, xn, gamma, rows, cols, 1e-6)
		rmsDx, rdg := make([]float32, rows*cols), make([]float32, cols)
		RMSNormBackward(rmsDx, rdg, dy, xn, rrstd, gamma, rows, cols)
		return [][]float32{y, ly, dx, ldx, ln, mean, rstd, lnDx, dg, db, rms, rrstd, rmsDx, rdg}
	}
	names := []string{"SoftmaxRows", "LogSoftmaxRows", "SoftmaxRowsBackward", "LogSoftmaxRowsBackward",
		"LayerNorm", "LayerNorm mean", "LayerNorm rstd", "LayerNormBackward dx", "dgamma", "dbeta",
		"RMSNorm", "RMSNorm rstd", "RMSNormBackward dx", "RMSNorm dgamma"}
	onEveryPath(t, func(t *testing.T) {
		var one, two [][]float32
		withThreads(1, func() { one = run() })
		withThreads(2, func() { two = run() })
		for i := range one {
			assertSameSlices(t, one[i], two[i], names[i])
		}
	})
}

func TestRowKernelsShapePanics(t *testing.T) {
	s6, s5 := make([]float32, 6), make([]float32, 5)
	cases := map[string]func(){
		"kernels.SoftmaxRows":            func() { SoftmaxRows(s6, s5, 2, 3) },
		"kernels.LogSoftmaxRows":         func() { LogSoftmaxRows(s5, s6, 2, 3) },
		"kernels.SoftmaxRowsBackward":    func() { SoftmaxRowsBackward(s6, s6, s5, 2, 3) },
		"kernels.LogSoftmaxRowsBackward": func() { LogSoftmaxRowsBackward(s6, s5, s6, 2, 3) },
	}
	for name, fn := range cases {
		t.Run(name, func(t *testing.T) {
			assertPanicsMentioning(t, fn, name+":", "length 5", "[2 3]")
		})
	}
	assertPanicsMentioning(t, func() { SoftmaxRows(s6, s6, -1, 3) }, "kernels.SoftmaxRows:", "negative shape [-1 3]")
}
