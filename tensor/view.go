package tensor

import (
	"fmt"
	"math"
	"slices"
)

func (t *Tensor) view(shape, strides []int, offset int) *Tensor {
	// A 0-d view has an empty, not nil, shape, like a 0-d tensor from New.
	if shape == nil {
		shape, strides = []int{}, []int{}
	}
	return &Tensor{data: t.data, shape: shape, strides: strides, offset: offset}
}

// InferShape resolves one -1 in shape so that it holds n elements, and panics
// with the operation's name if that is impossible.
func InferShape(op string, shape []int, n int) []int {
	out := slices.Clone(shape)
	known, free := 1, -1
	for i, d := range out {
		switch {
		case d == -1 && free < 0:
			free = i
		case d < 0:
			panic(fmt.Sprintf("%s: invalid shape %v (one -1 allowed, no other negatives)", op, shape))
		case d != 0 && known > (1<<62)/d:
			// An overflowing product could pass for the element count.
			panic(fmt.Sprintf("%s: shape %v is too large", op, shape))
		default:
			known *= d
		}
	}
	if free >= 0 {
		if known == 0 || n%known != 0 {
			panic(fmt.Sprintf("%s: cannot infer -1 in %v for %d elements", op, shape, n))
		}
		out[free] = n / known
	} else if known != n {
		panic(fmt.Sprintf("%s: shape %v holds %d elements, tensor has %d", op, shape, known, n))
	}
	return out
}

// Reshape returns a tensor with the same elements in row-major order and a
// new shape (one dimension may be -1). It is a view when the tensor is
// contiguous, and a copy otherwise.
func (t *Tensor) Reshape(shape ...int) *Tensor {
	s := InferShape("tensor.Reshape", shape, t.Size())
	if !t.IsContiguous() {
		t = t.Contiguous()
	}
	return t.view(s, contiguousStrides(s), t.offset)
}

// Transpose returns a view with dimensions d0 and d1 swapped.
func (t *Tensor) Transpose(d0, d1 int) *Tensor {
	d0, d1 = t.axis("tensor.Transpose", d0), t.axis("tensor.Transpose", d1)
	sh, st := slices.Clone(t.shape), slices.Clone(t.strides)
	sh[d0], sh[d1] = sh[d1], sh[d0]
	st[d0], st[d1] = st[d1], st[d0]
	return t.view(sh, st, t.offset)
}

// T returns the transpose of a 2-D tensor as a view.
func (t *Tensor) T() *Tensor {
	if t.Dim() != 2 {
		panic(fmt.Sprintf("tensor.T: want a 2-D tensor, have shape %v", t.shape))
	}
	return t.Transpose(0, 1)
}

// Permute returns a view whose dimension i is the tensor's dimension dims[i].
func (t *Tensor) Permute(dims ...int) *Tensor {
	if len(dims) != t.Dim() {
		panic(fmt.Sprintf("tensor.Permute: %d dimensions %v for shape %v", len(dims), dims, t.shape))
	}
	seen := make([]bool, len(dims))
	sh, st := make([]int, len(dims)), make([]int, len(dims))
	for i, d := range dims {
		d = t.axis("tensor.Permute", d)
		if seen[d] {
			panic(fmt.Sprintf("tensor.Permute: dimension %d repeated in %v", d, dims))
		}
		seen[d] = true
		sh[i], st[i] = t.shape[d], t.strides[d]
	}
	return t.view(sh, st, t.offset)
}

// Slice returns a view of the elements start <= i < end along dimension dim.
func (t *Tensor) Slice(dim, start, end int) *Tensor {
	dim = t.axis("tensor.Slice", dim)
	if start < 0 || end > t.shape[dim] || start > end {
		panic(fmt.Sprintf("tensor.Slice: range [%d:%d] out of bounds for dimension %d of shape %v", start, end, dim, t.shape))
	}
	sh := slices.Clone(t.shape)
	sh[dim] = end - start
	return t.view(sh, slices.Clone(t.strides), t.offset+start*t.strides[dim])
}

// Expand returns a view broadcast to shape: dimensions of size 1 (and new
// leading dimensions) repeat with stride 0. Writing to an expanded view
// writes the shared element.
func (t *Tensor) Expand(shape ...int) *Tensor {
	if len(shape) < t.Dim() {
		panic(fmt.Sprintf("tensor.Expand: cannot expand shape %v to fewer dimensions %v", t.shape, shape))
	}
	lead := len(shape) - t.Dim()
	if slices.ContainsFunc(shape, func(d int) bool { return d < 0 }) {
		panic(fmt.Sprintf("tensor.Expand: negative dimension in %v (expanding shape %v)", shape, t.shape))
	}
	checkShape("tensor.Expand", shape) // a size that overflows int
	st := make([]int, len(shape))
	for i := range shape {
		if i < lead {
			continue
		}
		d := t.shape[i-lead]
		switch {
		case d == shape[i]:
			st[i] = t.strides[i-lead]
		case d == 1:
			st[i] = 0
		default:
			panic(fmt.Sprintf("tensor.Expand: cannot expand shape %v to %v", t.shape, shape))
		}
	}
	return t.view(slices.Clone(shape), st, t.offset)
}

// Unsqueeze returns a view with a new dimension of size 1 at position dim.
func (t *Tensor) Unsqueeze(dim int) *Tensor {
	if dim < 0 {
		dim += t.Dim() + 1
	}
	if dim < 0 || dim > t.Dim() {
		panic(fmt.Sprintf("tensor.Unsqueeze: dimension %d out of range for shape %v", dim, t.shape))
	}
	st := 1
	if dim < t.Dim() {
		st = t.strides[dim] * t.shape[dim]
	}
	return t.view(slices.Insert(slices.Clone(t.shape), dim, 1), slices.Insert(slices.Clone(t.strides), dim, st), t.offset)
}

// Squeeze returns a view without dimension dim, which must have size 1.
func (t *Tensor) Squeeze(dim int) *Tensor {
	dim = t.axis("tensor.Squeeze", dim)
	if t.shape[dim] != 1 {
		panic(fmt.Sprintf("tensor.Squeeze: dimension %d of shape %v is not 1", dim, t.shape))
	}
	return t.view(slices.Delete(slices.Clone(t.shape), dim, dim+1), slices.Delete(slices.Clone(t.strides), dim, dim+1), t.offset)
}

// Contiguous returns the tensor itself if it is contiguous, else a
// contiguous copy.
func (t *Tensor) Contiguous() *Tensor {
	if t.IsContiguous() {
		return t
	}
	return t.Clone()
}

// Clone returns a contiguous copy with its own storage.
func (t *Tensor) Clone() *Tensor {
	out := New(t.shape...)
	copyStrided(out.data, t)
	return out
}

// CopyFrom copies src into t, broadcasting src to t's shape.
func (t *Tensor) CopyFrom(src *Tensor) {
	if !slices.Equal(src.shape, t.shape) {
		if b, err := BroadcastShapes(src.shape, t.shape); err != nil || !slices.Equal(b, t.shape) {
			panic(fmt.Sprintf("tensor.CopyFrom: cannot broadcast source of shape %v to destination of shape %v", src.shape, t.shape))
		}
		src = src.Expand(t.shape...)
	}
	if t.IsContiguous() {
		copyStrided(t.Data(), src)
		return
	}
	forEach2(t, src, func(i, j int) { t.data[i] = src.data[j] })
}

// Fill sets every element to v.
func (t *Tensor) Fill(v float32) {
	if t.IsContiguous() {
		d := t.Data()
		if v == 0 && !math.Signbit(float64(v)) {
			clear(d) // memclr
			return
		}
		for i := range d {
			d[i] = v
		}
		return
	}
	forEach1(t, func(i int) { t.data[i] = v })
}
