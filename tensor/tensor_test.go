package tensor_test

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/tensor"
)

func TestNewBookkeeping(t *testing.T) {
	tests := []struct {
		shape   []int
		strides []int
		size    int
	}{
		{[]int{}, []int{}, 1},
		{[]int{5}, []int{1}, 5},
		{[]int{2, 3}, []int{3, 1}, 6},
		{[]int{2, 3, 4}, []int{12, 4, 1}, 24},
		{[]int{2, 1, 4}, []int{4, 4, 1}, 8},
		{[]int{2, 0, 3}, []int{0, 3, 1}, 0},
	}
	for _, tc := range tests {
		x := tensor.New(tc.shape...)
		assert.Equal(t, tc.shape, x.Shape(), "shape %v", tc.shape)
		assert.Equal(t, tc.strides, x.Strides(), "strides of %v", tc.shape)
		assert.Equal(t, 0, x.Offset())
		assert.Equal(t, len(tc.shape), x.Dim())
		assert.Equal(t, tc.size, x.Size())
		assert.Len(t, x.Storage(), tc.size)
		assert.True(t, x.IsContiguous())
		for _, v := range x.Storage() {
			assert.Zero(t, v)
		}
	}
}

func TestNewCopiesShape(t *testing.T) {
	shape := []int{2, 3}
	x := tensor.New(shape...)
	shape[0] = 7
	assert.Equal(t, []int{2, 3}, x.Shape())
	y := tensor.FromSlice(make([]float32, 6), shape[1], 2)
	shape[1] = 9
	assert.Equal(t, []int{3, 2}, y.Shape())
}

func TestNewPanics(t *testing.T) {
	assertPanicMentions(t, func() { tensor.New(2, -1) }, "tensor.New", "[2 -1]")
	assertPanicMentions(t, func() { tensor.New(1<<40, 1<<40) }, "tensor.New", "too large")
	assertPanicMentions(t, func() { tensor.Zeros(-3) }, "[-3]")
}

func TestFromSliceSharesData(t *testing.T) {
	data := []float32{1, 2, 3, 4, 5, 6}
	x := tensor.FromSlice(data, 2, 3)
	assert.Equal(t, float32(6), x.At(1, 2))
	data[4] = 50
	assert.Equal(t, float32(50), x.At(1, 1))
	x.Set(-1, 0, 0)
	assert.Equal(t, float32(-1), data[0])

	assertPanicMentions(t, func() { tensor.FromSlice(data, 4, 2) }, "tensor.FromSlice", "6 values", "[4 2]")
	assertPanicMentions(t, func() { tensor.FromSlice(nil) }, "tensor.FromSlice", "[]")
}

func TestLen(t *testing.T) {
	x := tensor.New(2, 3, 4)
	assert.Equal(t, 2, x.Len(0))
	assert.Equal(t, 4, x.Len(2))
	assert.Equal(t, 4, x.Len(-1))
	assert.Equal(t, 2, x.Len(-3))
	assertPanicMentions(t, func() { x.Len(3) }, "tensor.Len", "3", "[2 3 4]")
	assertPanicMentions(t, func() { x.Len(-4) }, "tensor.Len", "[2 3 4]")
	assertPanicMentions(t, func() { tensor.Scalar(1).Len(0) }, "tensor.Len", "[]")
}

func TestIsContiguous(t *testing.T) {
	tests := []struct {
		name string
		x    *tensor.Tensor
		want bool
	}{
		{"fresh", tensor.New(2, 3), true},
		{"0-d", tensor.Scalar(2), true},
		{"transposed", tensor.New(2, 3).T(), false},
		{"transposed row vector", tensor.New(1, 3).T(), true},
		{"transposed column vector", tensor.New(3, 1).T(), true},
		{"row slice", tensor.New(4, 3).Slice(0, 1, 3), true},
		{"one row", tensor.New(4, 3).Slice(0, 2, 3), true},
		{"column slice", tensor.New(4, 3).Slice(1, 0, 2), false},
		{"one column", tensor.New(4, 3).Slice(1, 1, 2), false},
		{"one element of a column", tensor.New(4, 3).Slice(1, 1, 2).Slice(0, 2, 3), true},
		{"expanded", tensor.New(1, 3).Expand(4, 3), false},
		{"expanded to new size-1 dim", tensor.New(3).Expand(1, 3), true},
		{"scalar expanded to one", tensor.Scalar(1).Expand(1, 1), true},
		{"scalar expanded to many", tensor.Scalar(1).Expand(2), false},
		{"unsqueezed", tensor.New(2, 3).Unsqueeze(1), true},
		{"unsqueezed transpose", tensor.New(2, 3).T().Unsqueeze(0), false},
		{"squeezed column of transpose", tensor.New(1, 3).T().Squeeze(1), true},
		{"permuted size-1 dims", tensor.New(1, 3, 1).Permute(2, 1, 0), true},
		{"empty", tensor.New(0, 3), true},
		{"empty middle", tensor.New(2, 0, 3), true},
		{"empty row slice", tensor.New(2, 3).Slice(0, 1, 1), true},
		{"empty column slice", tensor.New(2, 3).Slice(1, 1, 1), true},
		{"empty slice of transpose", tensor.New(2, 3).T().Slice(0, 3, 3), true},
		{"empty expand", tensor.New(1, 3).Expand(0, 3), true},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, tc.x.IsContiguous(), "%s: shape %v strides %v", tc.name, tc.x.Shape(), tc.x.Strides())
		if tc.want {
			d := tc.x.Data()
			assert.Len(t, d, tc.x.Size(), tc.name)
			assert.Equal(t, tc.x.Values(), slices.Clone(d), tc.name)
		}
	}
}

func TestDataIsStorage(t *testing.T) {
	x := seq(4, 3)
	rows := x.Slice(0, 1, 3)
	d := rows.Data()
	assert.Equal(t, []float32{3, 4, 5, 6, 7, 8}, d)
	d[0] = 100
	assert.Equal(t, float32(100), x.At(1, 0))
}

func TestDataPanicsOnNonContiguous(t *testing.T) {
	x := tensor.New(2, 3).T()
	assertPanicMentions(t, func() { x.Data() }, "tensor.Data", "[3 2]", "not contiguous")
	assertPanicMentions(t, func() { tensor.New(1, 3).Expand(2, 3).Data() }, "tensor.Data", "[2 3]")
}

func TestDataOfEmptyViews(t *testing.T) {
	// An empty view can have an offset at or past the end of its storage;
	// it still has an (empty) element slice.
	base := seq(2, 3)
	col := base.Slice(1, 2, 3) // [2 1], offset 2
	u := col.Unsqueeze(0)      // [1 2 1], stride of the new dimension 6
	e := u.Slice(0, 1, 1)      // [0 2 1], offset 8 > len(storage)
	require.Equal(t, []int{0, 2, 1}, e.Shape())
	assert.True(t, e.IsContiguous())
	assert.Empty(t, e.Data())
	assert.Empty(t, e.Values())
	assert.Empty(t, e.Contiguous().Values())
	assert.Equal(t, []int{0, 2, 1}, e.Clone().Shape())
	e.Fill(3)
	e.CopyFrom(tensor.Scalar(4))
	assert.Equal(t, seq(2, 3).Values(), base.Values())
}

func TestAtSetOnViews(t *testing.T) {
	x := seq(3, 4)
	v := x.T().Slice(0, 1, 3) // [2 3]: columns 1 and 2 of x
	assert.Equal(t, float32(1), v.At(0, 0))
	assert.Equal(t, float32(10), v.At(1, 2))
	v.Set(-5, 1, 1)
	assert.Equal(t, float32(-5), x.At(1, 2))

	s := tensor.Scalar(7)
	assert.Equal(t, float32(7), s.At())
	s.Set(8)
	assert.Equal(t, float32(8), s.Item())
}

func TestAtSetItemPanics(t *testing.T) {
	x := tensor.New(2, 3)
	assertPanicMentions(t, func() { x.At(1) }, "tensor.At", "1 indices", "[2 3]")
	assertPanicMentions(t, func() { x.At(0, 3) }, "tensor.At", "[0 3]", "[2 3]")
	assertPanicMentions(t, func() { x.At(-1, 0) }, "tensor.At", "[-1 0]", "[2 3]")
	assertPanicMentions(t, func() { x.At(0, 0, 0) }, "tensor.At", "3 indices")
	assertPanicMentions(t, func() { x.Set(1, 2, 0) }, "tensor.Set", "[2 0]", "[2 3]")
	assertPanicMentions(t, func() { x.Set(1) }, "tensor.Set", "0 indices", "[2 3]")
	assertPanicMentions(t, func() { x.Item() }, "tensor.Item", "[2 3]", "6 elements")
	assertPanicMentions(t, func() { tensor.New(0).Item() }, "tensor.Item", "[0]", "0 elements")
	assertPanicMentions(t, func() { tensor.New(0, 2).At(0, 0) }, "tensor.At", "[0 2]")
}

func TestItem(t *testing.T) {
	assert.Equal(t, float32(3), tensor.Scalar(3).Item())
	assert.Equal(t, float32(2), tensor.FromSlice([]float32{2}, 1, 1).Item())
	assert.Equal(t, float32(5), seq(2, 3).Slice(0, 1, 2).Slice(1, 2, 3).Item())
	assert.Equal(t, float32(4), seq(2, 3).T().Slice(0, 1, 2).Slice(1, 1, 2).Item())
}

func TestValues(t *testing.T) {
	x := seq(2, 3)
	v := x.T().Values()
	assert.Equal(t, []float32{0, 3, 1, 4, 2, 5}, v)
	v[0] = 9
	assert.Equal(t, float32(0), x.At(0, 0), "Values must copy")
	assert.Equal(t, []float32{4}, tensor.Scalar(4).Values())
	assert.Empty(t, tensor.New(3, 0).Values())
}

func TestSameShape(t *testing.T) {
	assert.True(t, tensor.SameShape(tensor.New(2, 3), seq(3, 2).T()))
	assert.False(t, tensor.SameShape(tensor.New(2, 3), tensor.New(3, 2)))
	assert.False(t, tensor.SameShape(tensor.New(1, 3), tensor.New(3)))
	assert.True(t, tensor.SameShape(tensor.Scalar(1), tensor.New()))
}
