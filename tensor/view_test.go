package tensor_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/tensor"
)

// sharesStorage reports whether a write through v is seen by base, by
// writing a marker through v and restoring the element afterwards.
func sharesStorage(base, v *tensor.Tensor) bool {
	if v.Size() == 0 {
		return false
	}
	idx := make([]int, v.Dim())
	old := v.At(idx...)
	before := base.Values()
	v.Set(-12345, idx...)
	after := base.Values()
	v.Set(old, idx...)
	return !slices.Equal(before, after)
}

func TestInferShape(t *testing.T) {
	tests := []struct {
		shape []int
		n     int
		want  []int
	}{
		{[]int{-1}, 6, []int{6}},
		{[]int{2, -1}, 6, []int{2, 3}},
		{[]int{-1, 3}, 6, []int{2, 3}},
		{[]int{1, -1, 1}, 4, []int{1, 4, 1}},
		{[]int{-1, 3}, 0, []int{0, 3}},
		{[]int{2, 3}, 6, []int{2, 3}},
		{[]int{}, 1, []int{}},
		{[]int{0, 5}, 0, []int{0, 5}},
	}
	for _, tc := range tests {
		in := slices.Clone(tc.shape)
		assert.Equal(t, tc.want, tensor.InferShape("op", tc.shape, tc.n), "%v for %d", tc.shape, tc.n)
		assert.Equal(t, in, tc.shape, "InferShape must not modify its argument")
	}
	bad := []struct {
		shape []int
		n     int
		msg   string
	}{
		{[]int{-1, -1}, 6, "one -1"},
		{[]int{2, -2}, 6, "[2 -2]"},
		{[]int{4, -1}, 6, "[4 -1]"},
		{[]int{0, -1}, 0, "[0 -1]"},
		{[]int{2, 2}, 6, "[2 2]"},
		{[]int{}, 2, "[]"},
	}
	for _, tc := range bad {
		assertPanicMentions(t, func() { tensor.InferShape("tensor.Op", tc.shape, tc.n) }, "tensor.Op", tc.msg)
	}
}

func TestReshapeContiguousIsView(t *testing.T) {
	x := seq(2, 3, 4)
	r := x.Reshape(4, -1)
	assert.Equal(t, []int{4, 6}, r.Shape())
	assert.Equal(t, []int{6, 1}, r.Strides())
	assertRef(t, refOf(x).reshape([]int{4, 6}), r, 0)
	assert.True(t, sharesStorage(x, r))

	// A contiguous view with an offset keeps it.
	rows := x.Slice(0, 1, 2)
	r2 := rows.Reshape(-1)
	assert.Equal(t, 12, r2.Offset())
	assert.Equal(t, float32(12), r2.At(0))
	assert.True(t, sharesStorage(x, r2))

	s := tensor.Scalar(3).Reshape(1, 1, -1)
	assert.Equal(t, []int{1, 1, 1}, s.Shape())
	assert.Equal(t, []int{}, s.Reshape().Shape())
}

func TestReshapeNonContiguousCopies(t *testing.T) {
	x := seq(3, 4)
	v := x.T() // [4 3]
	r := v.Reshape(2, -1)
	assert.Equal(t, []int{2, 6}, r.Shape())
	assertRef(t, refOf(v).reshape([]int{2, 6}), r, 0)
	assert.False(t, sharesStorage(x, r))

	e := tensor.New(1, 3).Expand(2, 3).Reshape(6)
	assert.Equal(t, []int{6}, e.Shape())
	assert.True(t, e.IsContiguous())

	assertPanicMentions(t, func() { v.Reshape(5, -1) }, "tensor.Reshape", "[5 -1]", "12")
	assertPanicMentions(t, func() { v.Reshape(5, 2) }, "tensor.Reshape", "[5 2]")
	// A product that overflows int must not pass for the element count.
	assertPanicMentions(t, func() { tensor.New(0).Reshape(1<<32, 1<<32, 0) }, "tensor.Reshape", "too large")
}

func TestTranspose(t *testing.T) {
	x := seq(2, 3, 4)
	v := x.Transpose(0, 2)
	assert.Equal(t, []int{4, 3, 2}, v.Shape())
	assert.Equal(t, []int{1, 4, 12}, v.Strides())
	assertRef(t, refOf(x).transpose(0, 2), v, 0)
	assert.True(t, sharesStorage(x, v))
	assertRef(t, refOf(x).transpose(1, 2), x.Transpose(-1, -2), 0)
	assert.Equal(t, x.Values(), x.Transpose(1, 1).Values())
	assertPanicMentions(t, func() { x.Transpose(0, 3) }, "tensor.Transpose", "3", "[2 3 4]")

	m := seq(2, 3)
	mt := m.T()
	assert.Equal(t, []int{3, 2}, mt.Shape())
	assertRef(t, refOf(m).transpose(0, 1), mt, 0)
	assert.Equal(t, m.Values(), mt.T().Values())
	assertPanicMentions(t, func() { x.T() }, "tensor.T", "[2 3 4]")
	assertPanicMentions(t, func() { seq(3).T() }, "tensor.T", "[3]")
}

func TestPermute(t *testing.T) {
	x := seq(2, 3, 4, 5)
	v := x.Permute(0, 2, 1, 3)
	assert.Equal(t, []int{2, 4, 3, 5}, v.Shape())
	assert.Equal(t, []int{60, 5, 20, 1}, v.Strides())
	assertRef(t, refOf(x).permute([]int{0, 2, 1, 3}), v, 0)
	assert.True(t, sharesStorage(x, v))
	assertRef(t, refOf(x).permute([]int{3, 0, 2, 1}), x.Permute(-1, 0, -2, 1), 0)

	assertPanicMentions(t, func() { x.Permute(0, 1, 2) }, "tensor.Permute", "[0 1 2]", "[2 3 4 5]")
	assertPanicMentions(t, func() { x.Permute(0, 1, 1, 3) }, "tensor.Permute", "repeated", "[0 1 1 3]")
	assertPanicMentions(t, func() { x.Permute(0, 1, -1, 3) }, "tensor.Permute", "repeated")
	assertPanicMentions(t, func() { x.Permute(0, 1, 2, 4) }, "tensor.Permute", "[2 3 4 5]")
}

func TestSlice(t *testing.T) {
	x := seq(4, 5)
	v := x.Slice(1, 1, 4)
	assert.Equal(t, []int{4, 3}, v.Shape())
	assert.Equal(t, []int{5, 1}, v.Strides())
	assert.Equal(t, 1, v.Offset())
	assertRef(t, refOf(x).slice(1, 1, 4), v, 0)
	assert.True(t, sharesStorage(x, v))

	w := v.Slice(-2, 2, 4) // rows 2..3 of the column slice
	assert.Equal(t, 11, w.Offset())
	assertRef(t, refOf(x).slice(1, 1, 4).slice(0, 2, 4), w, 0)
	w.Set(-1, 1, 2)
	assert.Equal(t, float32(-1), x.At(3, 3))

	assert.Equal(t, []int{0, 5}, x.Slice(0, 4, 4).Shape())
	assertPanicMentions(t, func() { x.Slice(1, 2, 6) }, "tensor.Slice", "[2:6]", "[4 5]")
	assertPanicMentions(t, func() { x.Slice(1, -1, 2) }, "tensor.Slice", "[-1:2]")
	assertPanicMentions(t, func() { x.Slice(0, 3, 2) }, "tensor.Slice", "[3:2]")
	assertPanicMentions(t, func() { x.Slice(2, 0, 1) }, "tensor.Slice", "[4 5]")
}

func TestExpand(t *testing.T) {
	x := seq(3, 1)
	v := x.Expand(2, 3, 4)
	assert.Equal(t, []int{2, 3, 4}, v.Shape())
	assert.Equal(t, []int{0, 1, 0}, v.Strides())
	assertRef(t, refOf(x).expand([]int{2, 3, 4}), v, 0)

	// Writing to an expanded view writes the one shared element.
	v.Set(42, 1, 2, 3)
	assert.Equal(t, float32(42), x.At(2, 0))
	assert.Equal(t, float32(42), v.At(0, 2, 0))

	assertRef(t, refOf(tensor.Scalar(5)).expand([]int{2, 2}), tensor.Scalar(5).Expand(2, 2), 0)
	assert.Equal(t, x.Values(), x.Expand(3, 1).Values())
	assert.Equal(t, []int{3, 0}, x.Expand(3, 0).Shape())

	assertPanicMentions(t, func() { x.Expand(3) }, "tensor.Expand", "[3 1]", "[3]")
	assertPanicMentions(t, func() { x.Expand(4, 4) }, "tensor.Expand", "[3 1]", "[4 4]")
	assertPanicMentions(t, func() { x.Expand(-1, 3, 4) }, "tensor.Expand", "[3 1]", "[-1 3 4]")
	assertPanicMentions(t, func() { x.Expand(3, -2) }, "tensor.Expand", "[3 -2]")
	assertPanicMentions(t, func() { x.Expand(1<<40, 1<<40, 3, 1) }, "tensor.Expand", "too large")
}

func TestUnsqueezeSqueeze(t *testing.T) {
	x := seq(2, 3)
	for _, tc := range []struct {
		dim   int
		shape []int
	}{
		{0, []int{1, 2, 3}}, {1, []int{2, 1, 3}}, {2, []int{2, 3, 1}},
		{-1, []int{2, 3, 1}}, {-3, []int{1, 2, 3}},
	} {
		u := x.Unsqueeze(tc.dim)
		assert.Equal(t, tc.shape, u.Shape(), "Unsqueeze(%d)", tc.dim)
		assert.True(t, u.IsContiguous())
		assert.Equal(t, x.Values(), u.Values())
		assert.True(t, sharesStorage(x, u))
		d := tc.dim
		if d < 0 {
			d += 3
		}
		s := u.Squeeze(d)
		assert.Equal(t, x.Shape(), s.Shape())
		assert.Equal(t, x.Strides(), s.Strides())
	}
	assertPanicMentions(t, func() { x.Unsqueeze(3) }, "tensor.Unsqueeze", "3", "[2 3]")
	assertPanicMentions(t, func() { x.Unsqueeze(-4) }, "tensor.Unsqueeze", "[2 3]")
	assertPanicMentions(t, func() { x.Squeeze(0) }, "tensor.Squeeze", "[2 3]", "not 1")
	assertPanicMentions(t, func() { x.Squeeze(2) }, "tensor.Squeeze", "[2 3]")

	s := tensor.Scalar(4).Unsqueeze(0)
	assert.Equal(t, []int{1}, s.Shape())
	assert.Equal(t, []int{}, s.Squeeze(-1).Shape())

	tv := x.T().Unsqueeze(1) // [3 1 2]
	assertRef(t, refOf(x.T()).reshape([]int{3, 1, 2}), tv, 0)
	assert.True(t, sharesStorage(x, tv))
}

func TestContiguousAndClone(t *testing.T) {
	x := seq(3, 4)
	assert.Same(t, x, x.Contiguous())

	v := x.T()
	c := v.Contiguous()
	assert.True(t, c.IsContiguous())
	assertRef(t, refOf(v), c, 0)
	assert.False(t, sharesStorage(x, c))

	cl := x.Clone()
	assert.NotSame(t, x, cl)
	assert.Equal(t, x.Values(), cl.Values())
	assert.False(t, sharesStorage(x, cl))
	assert.Len(t, cl.Storage(), 12)

	// A contiguous view of part of a tensor clones only its elements.
	rows := x.Slice(0, 1, 2).Clone()
	assert.Equal(t, 0, rows.Offset())
	assert.Equal(t, []float32{4, 5, 6, 7}, rows.Storage())

	e := tensor.Scalar(2).Expand(2, 3).Contiguous()
	assert.Equal(t, []float32{2, 2, 2, 2, 2, 2}, e.Data())
	assert.Equal(t, []float32{9}, tensor.Scalar(9).Clone().Data())
}

func TestCopyFrom(t *testing.T) {
	t.Run("same shape", func(t *testing.T) {
		dst := tensor.New(2, 3)
		src := seq(3, 2).T()
		dst.CopyFrom(src)
		assertRef(t, refOf(src), dst, 0)
	})
	t.Run("broadcast row", func(t *testing.T) {
		dst := tensor.New(2, 3)
		dst.CopyFrom(tensor.FromSlice([]float32{1, 2, 3}, 3))
		assert.Equal(t, []float32{1, 2, 3, 1, 2, 3}, dst.Data())
	})
	t.Run("broadcast column", func(t *testing.T) {
		dst := tensor.New(2, 3)
		dst.CopyFrom(tensor.FromSlice([]float32{1, 2}, 2, 1))
		assert.Equal(t, []float32{1, 1, 1, 2, 2, 2}, dst.Data())
	})
	t.Run("broadcast scalar", func(t *testing.T) {
		dst := tensor.New(2, 2)
		dst.CopyFrom(tensor.Scalar(7))
		assert.Equal(t, []float32{7, 7, 7, 7}, dst.Data())
	})
	t.Run("transposed destination", func(t *testing.T) {
		base := tensor.New(3, 2)
		dst := base.T() // [2 3]
		dst.CopyFrom(seq(2, 3))
		assert.Equal(t, []float32{0, 3, 1, 4, 2, 5}, base.Data())
	})
	t.Run("column slice destination with broadcast", func(t *testing.T) {
		base := tensor.Full(-1, 3, 4)
		dst := base.Slice(1, 1, 3) // [3 2]
		dst.CopyFrom(tensor.FromSlice([]float32{10, 20}, 2))
		want := []float32{-1, 10, 20, -1, -1, 10, 20, -1, -1, 10, 20, -1}
		assert.Equal(t, want, base.Data())
	})
	t.Run("contiguous destination with offset", func(t *testing.T) {
		base := tensor.New(3, 2)
		base.Slice(0, 1, 3).CopyFrom(seq(2, 2).T())
		assert.Equal(t, []float32{0, 0, 0, 2, 1, 3}, base.Data())
	})
	t.Run("0-d", func(t *testing.T) {
		dst := tensor.Scalar(0)
		dst.CopyFrom(tensor.Scalar(3))
		assert.Equal(t, float32(3), dst.Item())
	})
	t.Run("mismatch", func(t *testing.T) {
		dst := tensor.New(2, 3)
		assertPanicMentions(t, func() { dst.CopyFrom(tensor.New(2)) }, "tensor.CopyFrom", "[2]", "[2 3]")
		assertPanicMentions(t, func() { dst.CopyFrom(tensor.New(3, 2)) }, "tensor.CopyFrom", "[3 2]", "[2 3]")
		assertPanicMentions(t, func() { dst.CopyFrom(tensor.New(1, 2, 3)) }, "tensor.CopyFrom", "[1 2 3]", "[2 3]")
	})
}

func TestFill(t *testing.T) {
	x := tensor.New(3, 4)
	x.Slice(1, 2, 3).Fill(5)     // one column
	x.T().Slice(0, 0, 1).Fill(1) // column 0 through the transpose
	x.Slice(0, 2, 3).Slice(1, 1, 4).Fill(-2)
	want := []float32{
		1, 0, 5, 0,
		1, 0, 5, 0,
		1, -2, -2, -2,
	}
	assert.Equal(t, want, x.Data())

	s := tensor.Scalar(1)
	s.Fill(3)
	assert.Equal(t, float32(3), s.Item())

	b := tensor.New(2)
	b.Unsqueeze(0).Expand(3, 2).Fill(4)
	assert.Equal(t, []float32{4, 4}, b.Data())
	tensor.New(0, 3).Fill(1)
}

// TestManyDims walks tensors with more dimensions than the iterators keep
// on the stack.
func TestManyDims(t *testing.T) {
	shape := []int{2, 1, 2, 3, 1, 2, 2, 1, 2, 3, 2}
	x := seq(shape...)
	perm := []int{10, 3, 0, 9, 1, 8, 2, 7, 4, 6, 5}
	v := x.Permute(perm...)
	assertRef(t, refOf(x).permute(perm), v, 0)
	assertRef(t, refOf(x).permute(perm), v.Contiguous(), 0)
	y := tensor.Add(v, v.Contiguous())
	assertRef(t, refBinary(tensor.OpAdd, refOf(v), refOf(v), v.Shape()), y, 0)
	d := tensor.New(v.Shape()...)
	d.CopyFrom(v)
	assert.Equal(t, v.Values(), d.Values())
}

// viewStep applies one random view to a tensor and to its reference.
func viewStep(rng *rand.Rand, x *tensor.Tensor, r *refArray) (*tensor.Tensor, *refArray, string) {
	nd := x.Dim()
	switch rng.IntN(7) {
	case 0:
		if nd >= 2 {
			d0, d1 := rng.IntN(nd), rng.IntN(nd)
			return x.Transpose(d0, d1), r.transpose(d0, d1), fmt.Sprintf("Transpose(%d,%d)", d0, d1)
		}
	case 1:
		p := rng.Perm(nd)
		return x.Permute(p...), r.permute(p), fmt.Sprintf("Permute%v", p)
	case 2:
		if nd > 0 {
			d := rng.IntN(nd)
			n := x.Len(d)
			s := rng.IntN(n + 1)
			e := s + rng.IntN(n-s+1)
			if e == s && rng.IntN(4) > 0 {
				e = n // keep most chains non-empty
			}
			return x.Slice(d, s, e), r.slice(d, s, e), fmt.Sprintf("Slice(%d,%d,%d)", d, s, e)
		}
	case 3:
		if nd < 6 {
			d := rng.IntN(nd + 1)
			sh := slices.Insert(slices.Clone(r.shape), d, 1)
			return x.Unsqueeze(d), r.reshape(sh), fmt.Sprintf("Unsqueeze(%d)", d)
		}
	case 4:
		for d := range nd {
			if x.Len(d) == 1 {
				sh := slices.Delete(slices.Clone(r.shape), d, d+1)
				return x.Squeeze(d), r.reshape(sh), fmt.Sprintf("Squeeze(%d)", d)
			}
		}
	case 5:
		sh := slices.Clone(x.Shape())
		for i := range sh {
			if sh[i] == 1 {
				sh[i] = 1 + rng.IntN(3)
			}
		}
		if rng.IntN(2) == 0 && len(sh) < 6 {
			sh = append([]int{1 + rng.IntN(3)}, sh...)
		}
		return x.Expand(sh...), r.expand(sh), fmt.Sprintf("Expand%v", sh)
	case 6:
		n := x.Size()
		sh := []int{n}
		if n > 0 && n%2 == 0 {
			sh = []int{2, -1}
		}
		rs := tensor.InferShape("test", sh, n)
		return x.Reshape(sh...), r.reshape(rs), fmt.Sprintf("Reshape%v", sh)
	}
	return x, r, ""
}

// TestRandomViewChains applies random chains of views to random tensors and
// checks every intermediate against the reference, through At, Values,
// Contiguous, Clone, CopyFrom into a fresh tensor and CopyFrom into the view.
func TestRandomViewChains(t *testing.T) {
	rng := newRNG(1)
	for trial := range 300 {
		nd := 1 + rng.IntN(4)
		shape := make([]int, nd)
		for i := range shape {
			shape[i] = 1 + rng.IntN(4)
		}
		x := seq(shape...)
		r := refOf(x)
		chain := ""
		for range 1 + rng.IntN(6) {
			var op string
			x, r, op = viewStep(rng, x, r)
			chain += op + " "
			if !assertRef(t, r, x, 0, "trial %d: %s", trial, chain) {
				return
			}
		}
		assert.Equal(t, r.shape, slices.Clone(x.Shape()), chain)
		want := make([]float32, len(r.vals))
		for i, v := range r.vals {
			want[i] = float32(v)
		}
		assert.Equal(t, want, x.Values(), chain)
		assert.Equal(t, want, x.Contiguous().Values(), chain)
		assert.Equal(t, want, x.Clone().Data(), chain)
		c := tensor.New(x.Shape()...)
		c.CopyFrom(x)
		assert.Equal(t, want, c.Data(), chain)
		if x.IsContiguous() {
			assert.Equal(t, want, x.Data(), chain)
		}

		// Writing through a view without repeated elements changes
		// exactly the elements the view selects.
		hasZeroStride := false
		for i, s := range x.Strides() {
			if s == 0 && x.Len(i) > 1 {
				hasZeroStride = true
			}
		}
		if !hasZeroStride {
			neg := tensor.New(x.Shape()...)
			neg.CopyFrom(x)
			negateInPlace(neg)
			x.CopyFrom(neg)
			for i, v := range x.Values() {
				assert.Equal(t, -want[i], v, chain)
			}
		}
	}
}

func negateInPlace(x *tensor.Tensor) {
	d := x.Data()
	for i := range d {
		d[i] = -d[i]
	}
}

func TestViewsDoNotAliasShapeSlices(t *testing.T) {
	x := seq(2, 3)
	views := []*tensor.Tensor{x.T(), x.Transpose(0, 1), x.Permute(1, 0), x.Slice(0, 0, 1), x.Expand(2, 2, 3), x.Unsqueeze(0), x.Unsqueeze(0).Squeeze(0), x.Reshape(3, 2)}
	for _, v := range views {
		v.Shape()[0] = 99
		v.Strides()[0] = 99
		require.Equal(t, []int{2, 3}, x.Shape())
		require.Equal(t, []int{3, 1}, x.Strides())
	}
}

func TestZeroDimViewsHaveEmptyShape(t *testing.T) {
	for name, v := range map[string]*tensor.Tensor{
		"Reshape()":        tensor.FromSlice([]float32{1}, 1, 1).Reshape(),
		"Expand()":         tensor.Scalar(1).Expand(),
		"Permute()":        tensor.Scalar(1).Permute(),
		"Squeeze(0)":       tensor.New(1).Squeeze(0),
		"Slice.Squeeze(0)": seq(3).Slice(0, 1, 2).Squeeze(0),
	} {
		assert.Equal(t, []int{}, v.Shape(), name)
		assert.Equal(t, []int{}, v.Strides(), name)
		assert.Equal(t, 0, v.Dim(), name)
	}
	assert.Equal(t, float32(1), seq(3).Slice(0, 1, 2).Squeeze(0).Item())
}
