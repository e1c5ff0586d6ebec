package kernels

import (
	"fmt"
	"math"
)

const rowGrain = 4096 // elements per parallel block of row-wise kernels

func checkRows(op string, rows, cols int, s ...[]float32) {
	if rows < 0 || cols < 0 {
		panic(fmt.Sprintf("kernels.%s: negative shape [%d %d]", op, rows, cols))
	}
	for _, x := range s {
		if len(x) < rows*cols {
			panic(fmt.Sprintf("kernels.%s: slice of length %d is too short for [%d %d]", op, len(x), rows, cols))
		}
	}
}

// rowsSerial reports whether a row kernel over rows x cols runs on the
// calling goroutine: then it is called without building a closure, so that
// small calls do not allocate.
func rowsSerial(rows, cols int) bool {
	return rows*cols < 2*rowGrain || Threads() <= 1
}

func rowsParallel(rows, cols int, fn func(r0, r1 int)) {
	grain := max(1, rowGrain/max(cols, 1))
	parallelFor(rows, grain, fn)
}

// rows2 applies f to rows [r0, r1) of dst and src.
func rows2(f func(dst, src []float32), dst, src []float32, cols, r0, r1 int) {
	for r := r0; r < r1; r++ {
		f(dst[r*cols:(r+1)*cols], src[r*cols:(r+1)*cols])
	}
}

// rows3 applies f to rows [r0, r1) of dx, y and dy.
func rows3(f func(dx, y, dy []float32), dx, y, dy []float32, cols, r0, r1 int) {
	for r := r0; r < r1; r++ {
		f(dx[r*cols:(r+1)*cols], y[r*cols:(r+1)*cols], dy[r*cols:(r+1)*cols])
	}
}

// SoftmaxRows sets each row of dst (rows x cols, contiguous) to the softmax
// of the same row of src. dst may alias src. -Inf entries (masked) get 0; a
// row with no finite entry gives NaN, as in PyTorch.
func SoftmaxRows(dst, src []float32, rows, cols int) {
	checkRows("SoftmaxRows", rows, cols, dst, src)
	apply2(active.softmaxRow, dst, src, rows, cols)
}

// LogSoftmaxRows sets each row of dst to the log-softmax of the row of src.
// dst may alias src.
func LogSoftmaxRows(dst, src []float32, rows, cols int) {
	checkRows("LogSoftmaxRows", rows, cols, dst, src)
	apply2(active.logSoftmaxRow, dst, src, rows, cols)
}

// SoftmaxRowsBackward sets dx = y * (dy - sum(dy*y)) row by row, the
// gradient of a softmax with output y. dx may alias dy.
func SoftmaxRowsBackward(dx, y, dy []float32, rows, cols int) {
	checkRows("SoftmaxRowsBackward", rows, cols, dx, y, dy)
	apply3(active.softmaxRowBackward, dx, y, dy, rows, cols)
}

// LogSoftmaxRowsBackward sets dx = dy - exp(y) * sum(dy) row by row, the
// gradient of a log-softmax with output y. dx may alias dy.
func LogSoftmaxRowsBackward(dx, y, dy []float32, rows, cols int) {
	checkRows("LogSoftmaxRowsBackward", rows, cols, dx, y, dy)
	apply3(active.logSoftmaxRowBackward, dx, y, dy, rows, cols)
}

func apply2(f func(dst, src []float32), dst, src []float32, rows, cols int) {
	if rowsSerial(rows, cols) {
		rows2(f, dst, src, cols, 0, rows)
		return
	}
	rowsParallel(rows, cols, func(r0, r1 int) { rows2(f, dst, src, cols, r0, r1) })
}

func apply3(f func(dx, y, dy []float32), dx, y, dy []float32, rows, cols int) {
	if rowsSerial(rows, cols) {
		rows3(f, dx, y, dy, cols, 0, rows)
		return
	}
	rowsParallel(rows, cols, func(r0, r1 int) { rows3(f, dx, y, dy, cols, r0, r1) })
}

func softmaxRowGeneric(dst, src []float32) {
	src = src[:len(dst)]
	m := float32(math.Inf(-1))
	for _, v := range src {
		if v > m {
			m = v
		}
	}
	var s float64
	for i, v := range src {
		e := float32(math.Exp(float64(v - m)))
		dst[i] = e
		s += float64(e)
	}
	inv := float32(1 / s)
	for i := range dst {
		dst[i] *= inv
	}
}

func logSoftmaxRowGeneric(dst, src []float32) {
	src = src[:len(dst)]
	m := float32(math.Inf(-1))
	for _, v := range src {
		if v > m {
			m = v
		}
	}
	var s float64
	for _, v := range src {
		s += math.Exp(float64(v - m))
	}
	// (v - m) - log(s), not v - (m + log(s)): m + log(s) would round to
	// the spacing of m, which is coarse when the inputs are large.
	ls := float32(math.Log(s))
	for i, v := range src {
		dst[i] = (v - m) - ls
	}
}

func softmaxRowBackwardGeneric(dx, y, dy []float32) {
	y = y[:len(dx)]
	dy = dy[:len(dx)]
	var s float32
	for i := range dx {
		s += dy[i] * y[i]
	}
	for i := range dx {
		dx[i] = y[i] * (dy[i] - s)
	}
}

func logSoftmaxRowBackwardGeneric(dx, y, dy []float32) {
	y = y[:len(dx)]
	dy = dy[:len(dx)]
	var s float32
	for _, v := range dy {
		s += v
	}
	for i := range dx {
		dx[i] = dy[i] - float32(math.Exp(float64(y[i])))*s
	}
}
