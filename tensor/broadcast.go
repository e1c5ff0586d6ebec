package tensor

import (
	"fmt"
	"slices"

	"github.com/kiln-ml/kiln/kernels"
)

// BroadcastShapes returns the shape that a and b broadcast to under NumPy's
// rules, or an error naming both shapes.
func BroadcastShapes(a, b []int) ([]int, error) {
	n := max(len(a), len(b))
	out := make([]int, n)
	for i := 0; i < n; i++ {
		da, db := 1, 1
		if j := len(a) - n + i; j >= 0 {
			da = a[j]
		}
		if j := len(b) - n + i; j >= 0 {
			db = b[j]
		}
		switch {
		case da == db || db == 1:
			out[i] = da
		case da == 1:
			out[i] = db
		default:
			return nil, fmt.Errorf("shapes %v and %v do not broadcast (dimension %d: %d vs %d)", a, b, i, da, db)
		}
	}
	return out, nil
}

// BinaryOp names an elementwise binary operation.
type BinaryOp int

// The elementwise binary operations.
const (
	OpAdd BinaryOp = iota
	OpSub
	OpMul
	OpDiv
)

// String returns the operation's name, as used in panic messages.
func (op BinaryOp) String() string {
	if !op.valid() {
		return fmt.Sprintf("BinaryOp(%d)", int(op))
	}
	return [...]string{"Add", "Sub", "Mul", "Div"}[op]
}

func (op BinaryOp) valid() bool { return op >= OpAdd && op <= OpDiv }

func (op BinaryOp) kernel() func(dst, a, b []float32) {
	switch op {
	case OpAdd:
		return kernels.Add
	case OpSub:
		return kernels.Sub
	case OpMul:
		return kernels.Mul
	default:
		return kernels.Div
	}
}

// minKernelRow is the shortest repeated operand for which BinaryInto calls
// a kernel per repetition; shorter ones (a scalar, a bias of a few
// elements) cost more in calls than the general loop does.
const minKernelRow = 16

// BinaryInto sets dst = a op b, broadcasting a and b to dst's shape, which
// must be their broadcast shape. dst must be contiguous and may alias an
// input that has dst's shape and layout.
func BinaryInto(op BinaryOp, dst, a, b *Tensor) {
	if !op.valid() {
		panic(fmt.Sprintf("tensor.BinaryInto: unknown operation %v for %v and %v", op, a.shape, b.shape))
	}
	want, err := BroadcastShapes(a.shape, b.shape)
	if err != nil {
		panic(fmt.Sprintf("tensor.%s: %v", op, err))
	}
	if !slices.Equal(want, dst.shape) {
		panic(fmt.Sprintf("tensor.%s: result of %v and %v has shape %v, dst has %v", op, a.shape, b.shape, want, dst.shape))
	}
	if !dst.IsContiguous() {
		panic(fmt.Sprintf("tensor.%s: dst of shape %v with strides %v is not contiguous", op, dst.shape, dst.strides))
	}
	d := dst.Data()
	k := op.kernel()
	ac, bc := a.IsContiguous(), b.IsContiguous()
	switch {
	case ac && bc && a.Size() == len(d) && b.Size() == len(d):
		k(d, a.Data(), b.Data())
		return
	case ac && a.Size() == len(d) && b.Size() == 1:
		// a op scalar: one pass, no views.
		applyScalar(op, d, a.Data(), b.data[b.offset], false)
		return
	case bc && b.Size() == len(d) && a.Size() == 1:
		applyScalar(op, d, b.Data(), a.data[a.offset], true)
		return
	case ac && bc && a.Size() == len(d) && b.Size() >= minKernelRow && isSuffix(b.shape, a.shape):
		// a [.., C] op b [C]: the bias pattern.
		ad, bd, n := a.Data(), b.Data(), b.Size()
		for i := 0; i < len(d); i += n {
			k(d[i:i+n], ad[i:i+n], bd)
		}
		return
	case ac && bc && b.Size() == len(d) && a.Size() >= minKernelRow && isSuffix(a.shape, b.shape):
		ad, bd, n := a.Data(), b.Data(), a.Size()
		for i := 0; i < len(d); i += n {
			k(d[i:i+n], ad, bd[i:i+n])
		}
		return
	}
	ae, be := a.Expand(want...), b.Expand(want...)
	pos := 0
	walk2(ae, be, func(ia, sa, ib, sb, n int) {
		applyRow(op, d[pos:pos+n], ae.data, ia, sa, be.data, ib, sb)
		pos += n
	})
}

// applyRow sets d[j] = x[ix+j*sx] op y[iy+j*sy]. The switch sits outside the
// loops so that each loop body is a single arithmetic instruction.
func applyRow(op BinaryOp, d, x []float32, ix, sx int, y []float32, iy, sy int) {
	switch op {
	case OpAdd:
		for j := range d {
			d[j] = x[ix+j*sx] + y[iy+j*sy]
		}
	case OpSub:
		for j := range d {
			d[j] = x[ix+j*sx] - y[iy+j*sy]
		}
	case OpMul:
		for j := range d {
			d[j] = x[ix+j*sx] * y[iy+j*sy]
		}
	default:
		for j := range d {
			d[j] = x[ix+j*sx] / y[iy+j*sy]
		}
	}
}

// applyScalar sets d[j] = x[j] op s, or s op x[j] if scalarFirst.
func applyScalar(op BinaryOp, d, x []float32, s float32, scalarFirst bool) {
	x = x[:len(d)]
	switch {
	case op == OpMul:
		kernels.Scale(d, x, s)
	case op == OpAdd:
		for j := range d {
			d[j] = x[j] + s
		}
	case op == OpSub && scalarFirst:
		for j := range d {
			d[j] = s - x[j]
		}
	case op == OpSub:
		for j := range d {
			d[j] = x[j] - s
		}
	case scalarFirst:
		for j := range d {
			d[j] = s / x[j]
		}
	default:
		for j := range d {
			d[j] = x[j] / s
		}
	}
}

// isSuffix reports whether s equals the trailing dimensions of of (ignoring
// leading ones of s).
func isSuffix(s, of []int) bool {
	for len(s) > 0 && s[0] == 1 && len(s) > 1 {
		s = s[1:]
	}
	if len(s) > len(of) {
		return false
	}
	return slices.Equal(s, of[len(of)-len(s):])
}

// Binary returns a op b with broadcasting, in new storage.
func Binary(op BinaryOp, a, b *Tensor) *Tensor {
	shape, err := BroadcastShapes(a.shape, b.shape)
	if err != nil {
		panic(fmt.Sprintf("tensor.%s: %v", op, err))
	}
	out := New(shape...)
	BinaryInto(op, out, a, b)
	return out
}

// Add returns a + b with broadcasting.
func Add(a, b *Tensor) *Tensor { return Binary(OpAdd, a, b) }

// Sub returns a - b with broadcasting.
func Sub(a, b *Tensor) *Tensor { return Binary(OpSub, a, b) }

// Mul returns a * b elementwise with broadcasting.
func Mul(a, b *Tensor) *Tensor { return Binary(OpMul, a, b) }

// Div returns a / b elementwise with broadcasting.
func Div(a, b *Tensor) *Tensor { return Binary(OpDiv, a, b) }

// SumTo adds src, reduced to dst's shape by summing over the dimensions that
// broadcasting expanded, into dst (dst += reduce(src)). It is the backward of
// broadcasting. dst must be contiguous and broadcastable to src's shape.
func SumTo(dst, src *Tensor) {
	// dst must broadcast to exactly src's shape: shapes that merely
	// broadcast together (dst [3 1], src [1 3]) have no reduction.
	if b, err := BroadcastShapes(dst.shape, src.shape); err != nil || !slices.Equal(b, src.shape) {
		panic(fmt.Sprintf("tensor.SumTo: cannot reduce shape %v to %v", src.shape, dst.shape))
	}
	if !dst.IsContiguous() {
		panic(fmt.Sprintf("tensor.SumTo: dst of shape %v with strides %v is not contiguous", dst.shape, dst.strides))
	}
	d := dst.Data()
	if src.IsContiguous() && len(d) > 0 {
		s := src.Data()
		if len(s) == len(d) {
			kernels.Add(d, d, s)
			return
		}
		if len(d) >= minKernelRow && isSuffix(dst.shape, src.shape) {
			for i := 0; i < len(s); i += len(d) {
				kernels.Add(d, d, s[i:i+len(d)])
			}
			return
		}
	}
	de := dst.Expand(src.shape...)
	walk2(de, src, func(ia, sa, ib, sb, n int) {
		switch {
		case sa == 0 && sb == 1:
			// A row reduced to one element: sum it, then add once.
			de.data[ia] += kernels.Sum(src.data[ib : ib+n])
		case sa == 0:
			var sum float32
			for j := 0; j < n; j++ {
				sum += src.data[ib+j*sb]
			}
			de.data[ia] += sum
		default:
			for j := 0; j < n; j++ {
				de.data[ia+j*sa] += src.data[ib+j*sb]
			}
		}
	})
}

// AddInto adds src (any layout) into dst (any layout) of the same shape.
func AddInto(dst, src *Tensor) {
	if !slices.Equal(dst.shape, src.shape) {
		panic(fmt.Sprintf("tensor.AddInto: shapes differ: %v and %v", dst.shape, src.shape))
	}
	if dst.IsContiguous() && src.IsContiguous() {
		d := dst.Data()
		kernels.Add(d, d, src.Data())
		return
	}
	walk2(dst, src, func(ia, sa, ib, sb, n int) {
		for j := 0; j < n; j++ {
			dst.data[ia+j*sa] += src.data[ib+j*sb]
		}
	})
}
