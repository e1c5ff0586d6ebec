package tensor

import (
	"fmt"

	"github.com/kiln-ml/kiln/kernels"
)

// MatLayout describes how a 2-D tensor (or each matrix of a batch) can be
// handed to Sgemm without copying: its storage, leading dimension and whether
// it is stored transposed.
type MatLayout struct {
	Data  []float32
	LD    int
	Trans bool
}

// Layout returns how the last two dimensions of t can be passed to Sgemm,
// with ok false if t must be made contiguous first. For a batch, Data starts
// at the first matrix and BatchStride returns the step between matrices.
func (t *Tensor) Layout() (l MatLayout, ok bool) {
	l, ok = t.matLayout()
	if !ok {
		return MatLayout{}, false
	}
	// Leading dimensions must be uniform over the batch: the batch
	// dimensions have to be collapsible to one stride.
	if _, ok := t.BatchStride(); !ok {
		return MatLayout{}, false
	}
	return l, true
}

// matLayout is Layout for the last two dimensions alone, whatever the batch
// dimensions: every matrix of the batch has this layout at its own offset
// (see batchOffset).
func (t *Tensor) matLayout() (l MatLayout, ok bool) {
	nd := t.Dim()
	if nd < 2 {
		return l, false
	}
	r, c := t.shape[nd-2], t.shape[nd-1]
	sr, sc := t.strides[nd-2], t.strides[nd-1]
	switch {
	case (sc == 1 || c == 1) && (r == 1 || sr >= max(c, 1)):
		l = MatLayout{LD: sr, Trans: false}
		if r == 1 {
			l.LD = max(c, 1)
		}
	case (sr == 1 || r == 1) && (c == 1 || sc >= max(r, 1)):
		l = MatLayout{LD: sc, Trans: true}
		if c == 1 {
			l.LD = max(r, 1)
		}
	default:
		return l, false
	}
	// An empty view's offset may lie past the end of its storage.
	l.Data = t.data[min(t.offset, len(t.data)):]
	return l, true
}

// batchOffset returns the storage step from t's first matrix to its i-th
// matrix in row-major order over the batch dimensions (0 for a 2-D t).
func batchOffset(t *Tensor, i int) int {
	off := 0
	for d := t.Dim() - 3; d >= 0; d-- {
		n := t.shape[d]
		off += (i % n) * t.strides[d]
		i /= n
	}
	return off
}

// BatchStride returns the storage step between consecutive matrices of a
// tensor with two or more dimensions, treating all leading dimensions as one
// batch dimension; ok is false if they cannot be collapsed.
func (t *Tensor) BatchStride() (int, bool) {
	nd := t.Dim()
	if nd <= 2 {
		return 0, true
	}
	stride := -1
	for i := nd - 3; i >= 0; i-- {
		if t.shape[i] == 1 {
			continue
		}
		if stride < 0 {
			stride = t.strides[i]
			continue
		}
		// collapsible if stride[i] == stride[i+1]*shape[i+1] over non-unit dims
		prev := i + 1
		for t.shape[prev] == 1 {
			prev++
		}
		if t.strides[i] != t.strides[prev]*t.shape[prev] {
			return 0, false
		}
	}
	if stride < 0 {
		stride = 0
	}
	return stride, true
}

// MatMul returns the matrix product of a [.., m, k] and b [.., k, n]. Batch
// dimensions must be equal, or b may be 2-D (shared by every matrix of a).
func MatMul(a, b *Tensor) *Tensor {
	shape := MatMulShape("tensor.MatMul", a.shape, b.shape)
	out := New(shape...)
	MatMulInto(out, a, b, 1, 0)
	return out
}

// MatMulShape returns the shape of a·b and panics, naming op and both shapes,
// if they do not fit.
func MatMulShape(op string, a, b []int) []int {
	if len(a) < 2 || len(b) < 2 {
		panic(fmt.Sprintf("%s: need at least 2-D operands: %v x %v", op, a, b))
	}
	m, k := a[len(a)-2], a[len(a)-1]
	k2, n := b[len(b)-2], b[len(b)-1]
	if k != k2 {
		panic(fmt.Sprintf("%s: inner dimensions differ: %v x %v", op, a, b))
	}
	if len(b) > 2 {
		if len(a) != len(b) {
			panic(fmt.Sprintf("%s: batch dimensions differ: %v x %v", op, a, b))
		}
		for i := 0; i < len(a)-2; i++ {
			if a[i] != b[i] {
				panic(fmt.Sprintf("%s: batch dimensions differ: %v x %v", op, a, b))
			}
		}
	}
	out := append([]int{}, a[:len(a)-2]...)
	return append(out, m, n)
}

// MatMulInto computes out = alpha*a·b + beta*out for a [.., m, k] and
// b [.., k, n] (or 2-D b); out must be contiguous with the product's shape.
// Transposed views of a and b are used in place.
func MatMulInto(out, a, b *Tensor, alpha, beta float32) {
	shape := MatMulShape("tensor.MatMulInto", a.shape, b.shape)
	if !SameShape(out, &Tensor{shape: shape}) {
		panic(fmt.Sprintf("tensor.MatMulInto: out has shape %v, want %v", out.shape, shape))
	}
	if !out.IsContiguous() {
		panic(fmt.Sprintf("tensor.MatMulInto: out of shape %v with strides %v is not contiguous", out.shape, out.strides))
	}
	m, k, n := a.shape[a.Dim()-2], a.shape[a.Dim()-1], b.shape[b.Dim()-1]
	// Each matrix is read where it lies, transposed or with wide rows; only
	// a layout Sgemm cannot express (repeated rows, strided columns) is
	// copied. Batch dimensions need not collapse to one stride: the
	// per-head [B,H,T,D] view of a [B,T,H,D] tensor is used in place.
	la, ok := a.matLayout()
	if !ok {
		a = a.Contiguous()
		la, _ = a.matLayout()
	}
	lb, ok := b.matLayout()
	if !ok {
		b = b.Contiguous()
		lb, _ = b.matLayout()
	}
	o := out.Data()
	if m*n == 0 {
		return
	}
	if k == 0 {
		// An empty sum: out = beta*out, with beta 0 clearing NaNs as Sgemm does.
		if beta == 0 {
			clear(o)
		} else if beta != 1 {
			kernels.Scale(o, o, beta)
		}
		return
	}
	batch := len(o) / (m * n)
	// A 2-D b and a row-major a whose rows are evenly spaced across the
	// batch: one big product.
	if b.Dim() == 2 && !la.Trans {
		if sa, ok := a.BatchStride(); ok && (a.Dim() == 2 || sa == m*la.LD) {
			kernels.Sgemm(false, lb.Trans, batch*m, n, k, alpha, la.Data, la.LD, lb.Data, lb.LD, beta, o, n)
			return
		}
	}
	for i := 0; i < batch; i++ {
		kernels.Sgemm(la.Trans, lb.Trans, m, n, k, alpha, la.Data[batchOffset(a, i):], la.LD, lb.Data[batchOffset(b, i):], lb.LD, beta, o[i*m*n:(i+1)*m*n], n)
	}
}
