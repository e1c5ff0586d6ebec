package tensor_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/tensor"
)

var allOps = []tensor.BinaryOp{tensor.OpAdd, tensor.OpSub, tensor.OpMul, tensor.OpDiv}

func TestBroadcastShapes(t *testing.T) {
	tests := []struct {
		a, b, want []int
	}{
		{[]int{}, []int{}, []int{}},
		{[]int{}, []int{2, 3}, []int{2, 3}},
		{[]int{2, 3}, []int{}, []int{2, 3}},
		{[]int{2, 3}, []int{2, 3}, []int{2, 3}},
		{[]int{2, 3}, []int{3}, []int{2, 3}},
		{[]int{3}, []int{2, 3}, []int{2, 3}},
		{[]int{4, 1}, []int{1, 5}, []int{4, 5}},
		{[]int{4, 1}, []int{5}, []int{4, 5}},
		{[]int{2, 1, 3}, []int{4, 1}, []int{2, 4, 3}},
		{[]int{1, 1}, []int{1}, []int{1, 1}},
		{[]int{0, 3}, []int{3}, []int{0, 3}},
		{[]int{0, 1}, []int{1, 4}, []int{0, 4}},
		{[]int{1}, []int{0}, []int{0}},
		{[]int{5, 1, 4, 1}, []int{3, 1, 2}, []int{5, 3, 4, 2}},
	}
	for _, tc := range tests {
		got, err := tensor.BroadcastShapes(tc.a, tc.b)
		require.NoError(t, err, "%v and %v", tc.a, tc.b)
		assert.Equal(t, tc.want, got, "%v and %v", tc.a, tc.b)
	}
	bad := [][2][]int{
		{{2, 3}, {2}},
		{{3}, {4}},
		{{2, 3}, {3, 3}},
		{{0}, {2}},
		{{4, 2, 3}, {5, 1, 3}},
	}
	for _, tc := range bad {
		_, err := tensor.BroadcastShapes(tc[0], tc[1])
		if assert.Error(t, err, "%v and %v", tc[0], tc[1]) {
			assert.Contains(t, err.Error(), fmt.Sprint(tc[0]))
			assert.Contains(t, err.Error(), fmt.Sprint(tc[1]))
		}
	}
}

func TestBinaryOpString(t *testing.T) {
	assert.Equal(t, "Add", tensor.OpAdd.String())
	assert.Equal(t, "Sub", tensor.OpSub.String())
	assert.Equal(t, "Mul", tensor.OpMul.String())
	assert.Equal(t, "Div", tensor.OpDiv.String())
	assert.Equal(t, "BinaryOp(9)", tensor.BinaryOp(9).String())
	assert.Equal(t, "BinaryOp(-1)", tensor.BinaryOp(-1).String())
}

// operand builds a tensor from random values in a layout of its own; its
// values lie in [1, 2) or (-2, -1] so that division is well conditioned.
type operand struct {
	name  string
	build func(rng *rand.Rand) *tensor.Tensor
}

func randSigned(rng *rand.Rand, shape ...int) *tensor.Tensor {
	x := tensor.Uniform(rng, 1, 2, shape...)
	d := x.Data()
	for i := range d {
		if rng.IntN(2) == 0 {
			d[i] = -d[i]
		}
	}
	return x
}

func contig(shape ...int) operand {
	return operand{fmt.Sprint(shape), func(rng *rand.Rand) *tensor.Tensor { return randSigned(rng, shape...) }}
}

func transposed(r, c int) operand {
	return operand{fmt.Sprintf("[%d %d] (transposed)", r, c), func(rng *rand.Rand) *tensor.Tensor { return randSigned(rng, c, r).T() }}
}

func colSlice(r, c int) operand {
	return operand{fmt.Sprintf("[%d %d] (column slice)", r, c), func(rng *rand.Rand) *tensor.Tensor {
		return randSigned(rng, r+1, c+3).Slice(1, 2, 2+c).Slice(0, 1, r+1)
	}}
}

func expanded(from, to []int) operand {
	return operand{fmt.Sprintf("%v (expanded from %v)", to, from), func(rng *rand.Rand) *tensor.Tensor {
		return randSigned(rng, from...).Expand(to...)
	}}
}

func (o operand) unsqueezed(d int) operand {
	return operand{fmt.Sprintf("%s unsqueezed at %d", o.name, d), func(rng *rand.Rand) *tensor.Tensor { return o.build(rng).Unsqueeze(d) }}
}

func (o operand) expandedTo(shape ...int) operand {
	return operand{fmt.Sprintf("%s expanded to %v", o.name, shape), func(rng *rand.Rand) *tensor.Tensor { return o.build(rng).Expand(shape...) }}
}

func permuted(shape []int, perm ...int) operand {
	return operand{fmt.Sprintf("%v permuted %v", shape, perm), func(rng *rand.Rand) *tensor.Tensor {
		return randSigned(rng, shape...).Permute(perm...)
	}}
}

// binaryCases cover every path of BinaryInto: contiguous equal shapes, the
// bias suffix in both orders, and the general strided walk.
var binaryCases = []struct{ a, b operand }{
	{contig(4, 5), contig(4, 5)},
	{contig(7), contig(7)},
	{contig(2, 3, 4), contig(1, 2, 3, 4)},
	{contig(6, 5), contig(5)},
	{contig(6, 5), contig(1, 5)},
	{contig(5), contig(6, 5)},
	{contig(1, 5), contig(6, 5)},
	{contig(6, 32), contig(32)},
	{contig(6, 16), contig(1, 16)},
	{contig(17), contig(6, 17)},
	{contig(1, 1, 40), contig(6, 40)},
	{contig(2, 3, 4), contig(3, 4)},
	{contig(3, 4), contig(2, 3, 4)},
	{contig(2, 3, 16), contig(3, 16)},
	{contig(3, 16), contig(2, 3, 16)},
	{contig(2, 3, 4), contig(1, 1, 4)},
	{contig(2, 3, 20), contig(1, 1, 20)},
	{contig(2, 3, 1), contig(3, 1)},
	{contig(2, 20, 1), contig(20, 1)},
	{contig(20, 1), contig(2, 20, 1)},
	{contig(6, 1), contig(1, 5)},
	{contig(6, 1), contig(5)},
	{contig(1, 5), contig(6, 1)},
	{contig(4, 3), contig(4, 1)},
	{contig(4, 1), contig(4, 3)},
	{contig(2, 1, 4), contig(3, 1)},
	{contig(), contig(3, 4)},
	{contig(3, 4), contig()},
	{contig(), contig()},
	{contig(1), contig(3, 4)},
	{transposed(4, 5), contig()},
	{contig(1, 1), transposed(4, 5)},
	{contig(300, 128), contig()},
	{contig(3, 4), contig(1, 1)},
	{contig(0, 5), contig(5)},
	{contig(5), contig(0, 5)},
	{contig(0, 1), contig(1, 4)},
	{contig(3, 0), contig(3, 0)},
	{contig(300, 128), contig(300, 128)},
	{contig(300, 128), contig(128)},
	{transposed(4, 5), contig(4, 5)},
	{contig(4, 5), transposed(4, 5)},
	{transposed(4, 5), transposed(4, 5)},
	{transposed(4, 5), contig(5)},
	{contig(5), transposed(4, 5)},
	{colSlice(4, 3), contig(3)},
	{colSlice(4, 3), colSlice(4, 3)},
	{contig(4, 3), colSlice(4, 1)},
	{expanded([]int{1, 5}, []int{4, 5}), contig(4, 5)},
	{contig(4, 5), expanded([]int{4, 1}, []int{4, 5})},
	{expanded([]int{}, []int{3, 2}), transposed(3, 2)},
	{permuted([]int{2, 3, 4, 5}, 0, 2, 1, 3), contig(2, 4, 3, 5)},
	{permuted([]int{2, 3, 4, 5}, 0, 2, 1, 3), contig(5)},
	{permuted([]int{2, 3, 4}, 2, 0, 1), permuted([]int{3, 4, 2}, 1, 2, 0)},
}

func TestBinaryInto(t *testing.T) {
	forEachKernelPath(t, func(t *testing.T) {
		rng := newRNG(2)
		for _, tc := range binaryCases {
			for _, op := range allOps {
				a, b := tc.a.build(rng), tc.b.build(rng)
				shape, err := tensor.BroadcastShapes(a.Shape(), b.Shape())
				require.NoError(t, err)
				want := refBinary(op, refOf(a), refOf(b), shape)
				aBefore, bBefore := a.Values(), b.Values()

				dst := tensor.Full(123, shape...)
				tensor.BinaryInto(op, dst, a, b)
				assertRef(t, want, dst, 0, "BinaryInto %s %s, %s", op, tc.a.name, tc.b.name)

				got := tensor.Binary(op, a, b)
				assertRef(t, want, got, 0, "Binary %s %s, %s", op, tc.a.name, tc.b.name)
				assert.Equal(t, aBefore, a.Values(), "a changed")
				assert.Equal(t, bBefore, b.Values(), "b changed")
			}
		}
	})
}

func TestBinaryIntoDestinationWithOffset(t *testing.T) {
	rng := newRNG(3)
	base := tensor.Full(9, 5, 4)
	dst := base.Slice(0, 1, 4) // contiguous, offset 4
	a, b := randSigned(rng, 3, 4), randSigned(rng, 4)
	tensor.BinaryInto(tensor.OpMul, dst, a, b)
	assertRef(t, refBinary(tensor.OpMul, refOf(a), refOf(b), []int{3, 4}), dst, 0)
	for _, row := range []int{0, 4} {
		for j := range 4 {
			assert.Equal(t, float32(9), base.At(row, j), "outside rows untouched")
		}
	}
}

func TestBinaryIntoAliasing(t *testing.T) {
	forEachKernelPath(t, func(t *testing.T) {
		rng := newRNG(4)
		for _, op := range allOps {
			for _, tc := range []struct {
				name      string
				dstShape  []int
				other     func() *tensor.Tensor
				dstIsLeft bool
			}{
				{"same shape, dst==a", []int{6, 5}, func() *tensor.Tensor { return randSigned(rng, 6, 5) }, true},
				{"same shape, dst==b", []int{6, 5}, func() *tensor.Tensor { return randSigned(rng, 6, 5) }, false},
				{"bias, dst==a", []int{6, 5}, func() *tensor.Tensor { return randSigned(rng, 5) }, true},
				{"bias, dst==b", []int{6, 5}, func() *tensor.Tensor { return randSigned(rng, 5) }, false},
				{"wide bias, dst==a", []int{6, 32}, func() *tensor.Tensor { return randSigned(rng, 32) }, true},
				{"wide bias, dst==b", []int{6, 32}, func() *tensor.Tensor { return randSigned(rng, 1, 32) }, false},
				{"transposed other, dst==a", []int{6, 5}, func() *tensor.Tensor { return randSigned(rng, 5, 6).T() }, true},
				{"column other, dst==b", []int{6, 5}, func() *tensor.Tensor { return randSigned(rng, 6, 1) }, false},
				{"scalar other, dst==a", []int{6, 5}, func() *tensor.Tensor { return randSigned(rng) }, true},
				{"0-d, dst==a", []int{}, func() *tensor.Tensor { return randSigned(rng) }, true},
			} {
				d := randSigned(rng, tc.dstShape...)
				o := tc.other()
				a, b := d, o
				if !tc.dstIsLeft {
					a, b = o, d
				}
				want := refBinary(op, refOf(a), refOf(b), tc.dstShape)
				tensor.BinaryInto(op, d, a, b)
				assertRef(t, want, d, 0, "%s %s", op, tc.name)
			}
			// x op x in place.
			x := randSigned(rng, 3, 7)
			want := refBinary(op, refOf(x), refOf(x), []int{3, 7})
			tensor.BinaryInto(op, x, x, x)
			assertRef(t, want, x, 0, "%s x op x", op)
		}
	})
}

func TestBinaryWrappers(t *testing.T) {
	a := tensor.FromSlice([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	b := tensor.FromSlice([]float32{10, 20, 30}, 3)
	assert.Equal(t, []float32{11, 22, 33, 14, 25, 36}, tensor.Add(a, b).Data())
	assert.Equal(t, []float32{-9, -18, -27, -6, -15, -24}, tensor.Sub(a, b).Data())
	assert.Equal(t, []float32{10, 40, 90, 40, 100, 180}, tensor.Mul(a, b).Data())
	assert.Equal(t, []float32{10, 10, 10, 2.5, 4, 5}, tensor.Div(b, a).Data())
	c := tensor.FromSlice([]float32{1, 2}, 2, 1)
	assert.Equal(t, []float32{11, 21, 31, 12, 22, 32}, tensor.Add(c, b).Data())
	s := tensor.Mul(tensor.Scalar(2), tensor.Scalar(3))
	assert.Equal(t, []int{}, s.Shape())
	assert.Equal(t, float32(6), s.Item())
}

func TestBinaryIntoSpecialValues(t *testing.T) {
	inf := float32(math.Inf(1))
	nan := float32(math.NaN())
	a := tensor.FromSlice([]float32{1, -1, 0, inf, nan, 0}, 6)
	negZero := float32(math.Copysign(0, -1))
	b := tensor.FromSlice([]float32{0, 0, 0, inf, 1, negZero}, 6)
	for _, op := range allOps {
		want := refBinary(op, refOf(a), refOf(b), []int{6})
		assertRef(t, want, tensor.Binary(op, a, b), 0, "%s", op)
		at := a.Unsqueeze(1).T() // [1 6], not contiguous
		want = refBinary(op, refOf(at), refOf(b), []int{1, 6})
		assertRef(t, want, tensor.Binary(op, at, b), 0, "%s general path", op)
	}
}

func TestBinaryIntoPanics(t *testing.T) {
	a, b := tensor.New(2, 3), tensor.New(3)
	assertPanicMentions(t, func() { tensor.Add(a, tensor.New(2)) }, "tensor.Add", "[2 3]", "[2]")
	assertPanicMentions(t, func() { tensor.Div(tensor.New(4, 1), tensor.New(3, 2)) }, "tensor.Div", "[4 1]", "[3 2]")
	assertPanicMentions(t, func() { tensor.BinaryInto(tensor.OpDiv, tensor.New(2, 3), a, tensor.New(2)) }, "tensor.Div", "[2 3]", "[2]")
	assertPanicMentions(t, func() { tensor.BinaryInto(tensor.OpMul, tensor.New(3, 2), a, b) }, "tensor.Mul", "[2 3]", "[3]", "[3 2]")
	assertPanicMentions(t, func() { tensor.BinaryInto(tensor.OpSub, tensor.New(1, 2, 3), a, b) }, "tensor.Sub", "[1 2 3]")
	assertPanicMentions(t, func() { tensor.BinaryInto(tensor.OpAdd, tensor.New(3, 2).T(), a, b) }, "tensor.Add", "[2 3]", "contiguous")
	assertPanicMentions(t, func() { tensor.BinaryInto(tensor.BinaryOp(7), tensor.New(2, 3), a, b) }, "BinaryOp(7)")
	assertPanicMentions(t, func() { tensor.Binary(tensor.BinaryOp(-1), a, b) }, "BinaryOp(-1)")
}

func TestSumTo(t *testing.T) {
	type tcase struct {
		src operand
		dst []int
	}
	cases := []tcase{
		{contig(4, 5), []int{4, 5}},
		{contig(4, 5), []int{5}},
		{contig(4, 5), []int{1, 5}},
		{contig(4, 5), []int{4, 1}},
		{contig(4, 5), []int{1, 1}},
		{contig(4, 5), []int{1}},
		{contig(4, 5), []int{}},
		{contig(2, 3, 4), []int{3, 4}},
		{contig(2, 3, 4), []int{4}},
		{contig(2, 3, 4), []int{2, 1, 4}},
		{contig(2, 3, 4), []int{1, 3, 1}},
		{contig(2, 3, 4), []int{3, 1}},
		{contig(2, 3, 4), []int{2, 3, 1}},
		{contig(2, 3, 4), []int{2, 1, 1}},
		{contig(2, 1, 4), []int{1, 4}},
		{contig(), []int{}},
		{contig(1), []int{}},
		{contig(0, 5), []int{5}},
		{contig(0, 5), []int{}},
		{contig(3, 0), []int{3, 1}},
		{contig(512, 96), []int{96}},
		{contig(512, 96), []int{}},
		{contig(512, 96), []int{512, 1}},
		{contig(8, 64, 96), []int{8, 1, 1}},
		{contig(4, 5), []int{1, 1}},
		{contig(40, 15), []int{15}},
		{contig(40, 16), []int{16}},
		{transposed(4, 5), []int{5}},
		{transposed(4, 5), []int{4, 1}},
		{transposed(4, 5), []int{4, 5}},
		{colSlice(6, 3), []int{3}},
		{colSlice(6, 3), []int{6, 1}},
		{expanded([]int{4, 1}, []int{4, 5}), []int{4, 1}},
		{expanded([]int{4, 1}, []int{4, 5}), []int{5}},
		{expanded([]int{5}, []int{3, 4, 5}), []int{4, 1}},
		{permuted([]int{2, 3, 4, 5}, 0, 2, 1, 3), []int{4, 1, 5}},
	}
	forEachKernelPath(t, func(t *testing.T) {
		rng := newRNG(5)
		for _, tc := range cases {
			src := tc.src.build(rng)
			dst := randSigned(rng, tc.dst...)
			want := refSumTo(refOf(src), tc.dst)
			init := refOf(dst)
			for i := range want.vals {
				want.vals[i] += init.vals[i]
			}
			tensor.SumTo(dst, src)
			// float32 sums of up to 50k terms of size ~1: allow their rounding.
			assertRef(t, want, dst, 1e-4, "SumTo %v <- %s", tc.dst, tc.src.name)
		}
	})
}

func TestSumToDestinationWithOffset(t *testing.T) {
	rng := newRNG(6)
	base := tensor.Zeros(3, 4)
	dst := base.Slice(0, 1, 2) // [1 4], offset 4
	src := randSigned(rng, 5, 4)
	tensor.SumTo(dst, src)
	assertRef(t, refSumTo(refOf(src), []int{1, 4}), dst, 1e-6)
	assert.Equal(t, []float32{0, 0, 0, 0}, base.Slice(0, 0, 1).Data())
	assert.Equal(t, []float32{0, 0, 0, 0}, base.Slice(0, 2, 3).Data())
}

func TestSumToPanics(t *testing.T) {
	for _, tc := range []struct{ dst, src []int }{
		{[]int{3, 1}, []int{1, 3}},
		{[]int{3}, []int{1}},
		{[]int{2, 3}, []int{3}},
		{[]int{1, 2, 3}, []int{2, 3}},
		{[]int{2}, []int{2, 3}},
		{[]int{4}, []int{0}},
	} {
		t.Run(fmt.Sprintf("%v<-%v", tc.dst, tc.src), func(t *testing.T) {
			dst, src := tensor.New(tc.dst...), tensor.Ones(tc.src...)
			before := dst.Values()
			assertPanicMentions(t, func() { tensor.SumTo(dst, src) }, "tensor.SumTo", fmt.Sprint(tc.dst), fmt.Sprint(tc.src))
			assert.Equal(t, before, dst.Values(), "dst changed by a failed SumTo")
		})
	}
	assertPanicMentions(t, func() { tensor.SumTo(tensor.New(3, 2).T(), tensor.New(4, 2, 3)) }, "tensor.SumTo", "[2 3]", "contiguous")
}

func TestAddInto(t *testing.T) {
	forEachKernelPath(t, func(t *testing.T) {
		rng := newRNG(7)
		for _, tc := range []struct{ dst, src operand }{
			{contig(4, 5), contig(4, 5)},
			{contig(4, 5), transposed(4, 5)},
			{transposed(4, 5), contig(4, 5)},
			{colSlice(4, 3), transposed(4, 3)},
			{permuted([]int{2, 3, 4}, 1, 2, 0), colSlice(3, 4).unsqueezed(2).expandedTo(3, 4, 2)},
			{contig(), contig()},
			{contig(0, 3), contig(0, 3)},
			{contig(300, 128), contig(300, 128)},
		} {
			dst, src := tc.dst.build(rng), tc.src.build(rng)
			want := refBinary(tensor.OpAdd, refOf(dst), refOf(src), dst.Shape())
			tensor.AddInto(dst, src)
			assertRef(t, want, dst, 0, "AddInto %s += %s", tc.dst.name, tc.src.name)
		}
	})
	// Into a view: the base sees the sums, and only there.
	base := tensor.Zeros(3, 4)
	tensor.AddInto(base.Slice(1, 1, 3).T(), tensor.Ones(2, 3))
	assert.Equal(t, []float32{0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0}, base.Data())

	assertPanicMentions(t, func() { tensor.AddInto(tensor.New(2, 3), tensor.New(3)) }, "tensor.AddInto", "[2 3]", "[3]")
	assertPanicMentions(t, func() { tensor.AddInto(tensor.New(2, 3), tensor.New(3, 2)) }, "tensor.AddInto", "[2 3]", "[3 2]")
}
