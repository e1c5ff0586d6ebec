package lowrank

import (
	"errors"
	"fmt"

	"github.com/kiln-ml/kiln/kernels"
)

// Matrix is a dense row-major float32 matrix: element (i, j) is Data[i*Cols+j].
// It is a plain view: copying a Matrix shares its Data.
type Matrix struct {
	Rows, Cols int
	Data       []float32
}

// NewMatrix returns a zero rows x cols matrix.
func NewMatrix(rows, cols int) Matrix {
	if rows < 0 || cols < 0 {
		panic(fmt.Sprintf("lowrank.NewMatrix: negative dimension %dx%d", rows, cols))
	}
	return Matrix{Rows: rows, Cols: cols, Data: make([]float32, rows*cols)}
}

// At returns element (i, j).
func (a Matrix) At(i, j int) float32 {
	if uint(i) >= uint(a.Rows) || uint(j) >= uint(a.Cols) {
		panic(fmt.Sprintf("lowrank.Matrix.At: index (%d, %d) out of range for %dx%d", i, j, a.Rows, a.Cols))
	}
	return a.Data[i*a.Cols+j]
}

// Set sets element (i, j) to v.
func (a Matrix) Set(i, j int, v float32) {
	if uint(i) >= uint(a.Rows) || uint(j) >= uint(a.Cols) {
		panic(fmt.Sprintf("lowrank.Matrix.Set: index (%d, %d) out of range for %dx%d", i, j, a.Rows, a.Cols))
	}
	a.Data[i*a.Cols+j] = v
}

// Empty reports whether a has no elements.
func (a Matrix) Empty() bool { return a.Rows == 0 || a.Cols == 0 }

// ErrNotFinite is wrapped by the errors returned when an input holds a NaN or
// an infinity; callers can test for it with errors.Is and skip the step.
var ErrNotFinite = errors.New("non-finite value (NaN or Inf)")

// checkShape panics unless a is a well-formed rows x cols matrix.
func checkShape(op, name string, a Matrix, rows, cols int) {
	if a.Rows != rows || a.Cols != cols {
		panic(fmt.Sprintf("%s: %s is %dx%d, want %dx%d", op, name, a.Rows, a.Cols, rows, cols))
	}
	checkData(op, name, a)
}

// checkData panics unless len(a.Data) matches a's dimensions.
func checkData(op, name string, a Matrix) {
	if a.Rows < 0 || a.Cols < 0 || len(a.Data) != a.Rows*a.Cols {
		panic(fmt.Sprintf("%s: %s is %dx%d but holds %d elements", op, name, a.Rows, a.Cols, len(a.Data)))
	}
}

// firstNonFinite returns the index of the first NaN or Inf in x, or -1.
func firstNonFinite(x []float32) int {
	// A NaN or an infinity makes any float sum non-finite, so a finite sum
	// (one vectorised pass) proves every entry finite; only a non-finite sum,
	// which may also be an overflow of huge finite entries, needs the scan.
	if s := kernels.Sum(x); s-s == 0 {
		return -1
	}
	for i, v := range x {
		if v-v != 0 {
			return i
		}
	}
	return -1
}

// notFinite returns an error naming the first non-finite element of a, or nil.
func notFinite(op, name string, a Matrix) error {
	i := firstNonFinite(a.Data)
	if i < 0 {
		return nil
	}
	return fmt.Errorf("%s: %s (%dx%d) holds %v at (%d, %d); want finite values: %w",
		op, name, a.Rows, a.Cols, a.Data[i], i/a.Cols, i%a.Cols, ErrNotFinite)
}
