package tensor

import (
	"fmt"
	"slices"
)

// Tensor is an N-dimensional view of float32 storage. The zero value is not
// useful; create tensors with New, Zeros, FromSlice and friends.
type Tensor struct {
	data    []float32
	shape   []int
	strides []int
	offset  int
}

// New returns a tensor of zeros with the given shape.
func New(shape ...int) *Tensor {
	n := checkShape("tensor.New", shape)
	return fromStorage(make([]float32, n), shape)
}

// FromSlice returns a contiguous tensor that uses data as its storage (no
// copy). It panics if len(data) is not the product of shape.
func FromSlice(data []float32, shape ...int) *Tensor {
	n := checkShape("tensor.FromSlice", shape)
	if len(data) != n {
		panic(fmt.Sprintf("tensor.FromSlice: %d values do not fill shape %v (%d elements)", len(data), shape, n))
	}
	return fromStorage(data, shape)
}

// fromStorage wraps storage in a contiguous tensor; shape is copied.
func fromStorage(data []float32, shape []int) *Tensor {
	t := &Tensor{data: data, shape: slices.Clone(shape)}
	if t.shape == nil {
		t.shape = []int{}
	}
	t.strides = contiguousStrides(t.shape)
	return t
}

func checkShape(op string, shape []int) int {
	n := 1
	for _, d := range shape {
		if d < 0 {
			panic(fmt.Sprintf("%s: negative dimension in shape %v", op, shape))
		}
		if d != 0 && n > (1<<62)/d {
			panic(fmt.Sprintf("%s: shape %v is too large", op, shape))
		}
		n *= d
	}
	return n
}

func contiguousStrides(shape []int) []int {
	st := make([]int, len(shape))
	s := 1
	for i := len(shape) - 1; i >= 0; i-- {
		st[i] = s
		s *= shape[i]
	}
	return st
}

// Shape returns the dimensions. The slice belongs to the tensor: do not modify it.
func (t *Tensor) Shape() []int { return t.shape }

// Strides returns the step in storage along each dimension. Do not modify it.
func (t *Tensor) Strides() []int { return t.strides }

// Offset returns the position of the first element in the storage.
func (t *Tensor) Offset() int { return t.offset }

// Storage returns the whole underlying storage, shared with all views.
func (t *Tensor) Storage() []float32 { return t.data }

// Dim returns the number of dimensions.
func (t *Tensor) Dim() int { return len(t.shape) }

// Size returns the number of elements.
func (t *Tensor) Size() int {
	n := 1
	for _, d := range t.shape {
		n *= d
	}
	return n
}

// Len returns the size of dimension d; negative d counts from the end.
func (t *Tensor) Len(d int) int { return t.shape[t.axis("tensor.Len", d)] }

// axis normalises a possibly negative dimension index and panics if it is
// out of range.
func (t *Tensor) axis(op string, d int) int {
	if d < 0 {
		d += len(t.shape)
	}
	if d < 0 || d >= len(t.shape) {
		panic(fmt.Sprintf("%s: dimension %d out of range for shape %v", op, d, t.shape))
	}
	return d
}

// IsContiguous reports whether the elements lie in row-major order without
// gaps, so that Data can return them as one slice. Dimensions of size 1 and
// tensors without elements are contiguous whatever their strides.
func (t *Tensor) IsContiguous() bool {
	if t.Size() == 0 {
		return true
	}
	s := 1
	for i := len(t.shape) - 1; i >= 0; i-- {
		if t.shape[i] != 1 && t.strides[i] != s {
			return false
		}
		s *= t.shape[i]
	}
	return true
}

// Data returns the elements of a contiguous tensor as a slice of its storage
// (writes go to the tensor). It panics if the tensor is not contiguous.
func (t *Tensor) Data() []float32 {
	if !t.IsContiguous() {
		panic(fmt.Sprintf("tensor.Data: tensor of shape %v with strides %v is not contiguous; call Contiguous first", t.shape, t.strides))
	}
	n := t.Size()
	if n == 0 {
		// An empty view's offset may lie past the end of its storage.
		return t.data[:0]
	}
	return t.data[t.offset : t.offset+n]
}

// index returns the storage position of a multi-index.
func (t *Tensor) index(op string, idx []int) int {
	if len(idx) != len(t.shape) {
		panic(fmt.Sprintf("%s: %d indices for a tensor of shape %v", op, len(idx), t.shape))
	}
	p := t.offset
	for i, x := range idx {
		if x < 0 || x >= t.shape[i] {
			panic(fmt.Sprintf("%s: index %v out of range for shape %v", op, idx, t.shape))
		}
		p += x * t.strides[i]
	}
	return p
}

// At returns the element at a multi-index.
func (t *Tensor) At(idx ...int) float32 { return t.data[t.index("tensor.At", idx)] }

// Set stores v at a multi-index.
func (t *Tensor) Set(v float32, idx ...int) { t.data[t.index("tensor.Set", idx)] = v }

// Item returns the only element of a one-element tensor.
func (t *Tensor) Item() float32 {
	if t.Size() != 1 {
		panic(fmt.Sprintf("tensor.Item: tensor of shape %v has %d elements, want 1", t.shape, t.Size()))
	}
	return t.data[t.offset]
}

// Values returns a new slice with the elements in row-major order.
func (t *Tensor) Values() []float32 {
	out := make([]float32, t.Size())
	copyStrided(out, t)
	return out
}

// SameShape reports whether a and b have equal shapes.
func SameShape(a, b *Tensor) bool { return slices.Equal(a.shape, b.shape) }
