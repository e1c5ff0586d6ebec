package tensor_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/kernels"
	"github.com/kiln-ml/kiln/tensor"
)

// refArray is a dense row-major reference array. The tests compute expected
// results on it with explicit multi-index loops, independently of strides,
// offsets and the package's iterators.
type refArray struct {
	shape []int
	vals  []float64
}

func refSize(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// forIndices calls fn with every multi-index of shape in row-major order:
// once with an empty index for a 0-d shape, never for an empty shape. fn
// must not keep idx.
func forIndices(shape []int, fn func(idx []int)) {
	if refSize(shape) == 0 {
		return
	}
	idx := make([]int, len(shape))
	for {
		fn(idx)
		k := len(shape) - 1
		for ; k >= 0; k-- {
			idx[k]++
			if idx[k] < shape[k] {
				break
			}
			idx[k] = 0
		}
		if k < 0 {
			return
		}
	}
}

func newRef(shape []int, f func(idx []int) float64) *refArray {
	r := &refArray{shape: slices.Clone(shape), vals: make([]float64, 0, refSize(shape))}
	forIndices(shape, func(idx []int) { r.vals = append(r.vals, f(idx)) })
	return r
}

// refOf reads a tensor element by element through At.
func refOf(t *tensor.Tensor) *refArray {
	return newRef(t.Shape(), func(idx []int) float64 { return float64(t.At(idx...)) })
}

func (r *refArray) at(idx []int) float64 {
	p := 0
	for i, x := range idx {
		p = p*r.shape[i] + x
	}
	return r.vals[p]
}

func (r *refArray) transpose(d0, d1 int) *refArray {
	sh := slices.Clone(r.shape)
	sh[d0], sh[d1] = sh[d1], sh[d0]
	return newRef(sh, func(idx []int) float64 {
		src := slices.Clone(idx)
		src[d0], src[d1] = src[d1], src[d0]
		return r.at(src)
	})
}

func (r *refArray) permute(dims []int) *refArray {
	sh := make([]int, len(dims))
	for i, d := range dims {
		sh[i] = r.shape[d]
	}
	return newRef(sh, func(idx []int) float64 {
		src := make([]int, len(dims))
		for i, d := range dims {
			src[d] = idx[i]
		}
		return r.at(src)
	})
}

func (r *refArray) slice(dim, start, end int) *refArray {
	sh := slices.Clone(r.shape)
	sh[dim] = end - start
	return newRef(sh, func(idx []int) float64 {
		src := slices.Clone(idx)
		src[dim] += start
		return r.at(src)
	})
}

func (r *refArray) expand(shape []int) *refArray {
	return newRef(shape, func(idx []int) float64 { return r.at(broadcastIndex(idx, r.shape)) })
}

func (r *refArray) reshape(shape []int) *refArray {
	return &refArray{shape: slices.Clone(shape), vals: slices.Clone(r.vals)}
}

// broadcastIndex maps an index into a broadcast result to the index of an
// operand of shape: leading dimensions drop out and size-1 dimensions read 0.
func broadcastIndex(idx, shape []int) []int {
	lead := len(idx) - len(shape)
	src := make([]int, len(shape))
	for i := range shape {
		if shape[i] != 1 {
			src[i] = idx[lead+i]
		}
	}
	return src
}

// refBinary is a op b with NumPy broadcasting, each element computed in
// float32 as the package must.
func refBinary(op tensor.BinaryOp, a, b *refArray, out []int) *refArray {
	return newRef(out, func(idx []int) float64 {
		x := float32(a.at(broadcastIndex(idx, a.shape)))
		y := float32(b.at(broadcastIndex(idx, b.shape)))
		var z float32
		switch op {
		case tensor.OpAdd:
			z = x + y
		case tensor.OpSub:
			z = x - y
		case tensor.OpMul:
			z = x * y
		case tensor.OpDiv:
			z = x / y
		default:
			panic("refBinary: unknown op")
		}
		return float64(z)
	})
}

// refSumTo sums src over the dimensions that broadcasting to src's shape
// expands from shape.
func refSumTo(src *refArray, shape []int) *refArray {
	out := newRef(shape, func([]int) float64 { return 0 })
	forIndices(src.shape, func(idx []int) {
		d := broadcastIndex(idx, shape)
		p := 0
		for i, x := range d {
			p = p*shape[i] + x
		}
		out.vals[p] += src.at(idx)
	})
	return out
}

// refMatMul multiplies the last two dimensions; b may be 2-D and shared.
func refMatMul(a, b *refArray) *refArray {
	na, nb := len(a.shape), len(b.shape)
	m, k, n := a.shape[na-2], a.shape[na-1], b.shape[nb-1]
	shape := append(slices.Clone(a.shape[:na-2]), m, n)
	return newRef(shape, func(idx []int) float64 {
		batch := idx[:len(idx)-2]
		i, j := idx[len(idx)-2], idx[len(idx)-1]
		var s float64
		for p := 0; p < k; p++ {
			ai := append(slices.Clone(batch), i, p)
			bi := []int{p, j}
			if nb > 2 {
				bi = append(slices.Clone(batch), p, j)
			}
			s += a.at(ai) * b.at(bi)
		}
		return s
	})
}

// assertRef checks that got has want's shape and elements within tol
// (tol 0 asks for exact equality; NaNs must match NaNs).
func assertRef(t *testing.T, want *refArray, got *tensor.Tensor, tol float64, msgAndArgs ...any) bool {
	t.Helper()
	if !assert.Equal(t, want.shape, slices.Clone(got.Shape()), msgAndArgs...) {
		return false
	}
	ok := true
	forIndices(want.shape, func(idx []int) {
		if !ok {
			return
		}
		w, g := want.at(idx), float64(got.At(idx...))
		if math.IsNaN(w) && math.IsNaN(g) {
			return
		}
		if w == g || math.Abs(w-g) <= tol*(1+math.Abs(w)) {
			return
		}
		ok = assert.Fail(t, fmt.Sprintf("element %v: want %v, got %v (tol %g)", idx, w, g, tol), msgAndArgs...)
	})
	return ok
}

// seq returns a contiguous tensor holding 0, 1, 2, ... so that every element
// of a view shows where it came from.
func seq(shape ...int) *tensor.Tensor {
	n := refSize(shape)
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(i)
	}
	return tensor.FromSlice(v, shape...)
}

// panicMessage runs fn and returns what it panicked with, failing the test
// if it did not panic or panicked with a runtime error (an index out of
// range, a nil dereference) instead of a message of its own.
func panicMessage(t *testing.T, fn func()) string {
	t.Helper()
	var got any
	panicked := true
	func() {
		defer func() { got = recover() }()
		fn()
		panicked = false
	}()
	require.True(t, panicked, "expected a panic")
	if err, isRuntime := got.(runtime.Error); isRuntime {
		require.FailNow(t, "bare runtime panic instead of a message", "%v", err)
	}
	return fmt.Sprint(got)
}

// assertPanicMentions checks that fn panics with a message containing every
// one of wants (the operation and the shapes involved).
func assertPanicMentions(t *testing.T, fn func(), wants ...string) {
	t.Helper()
	msg := panicMessage(t, fn)
	for _, w := range wants {
		assert.Contains(t, msg, w)
	}
}

// forEachKernelPath runs fn once per kernel path this machine can run, so
// that every fast path of the package meets every kernel implementation.
func forEachKernelPath(t *testing.T, fn func(t *testing.T)) {
	prev := kernels.Path()
	defer func() { require.NoError(t, kernels.Use(prev)) }()
	for _, p := range kernels.Available() {
		require.NoError(t, kernels.Use(p))
		t.Run(p, fn)
	}
}

func newRNG(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x6b696c6e)) }
