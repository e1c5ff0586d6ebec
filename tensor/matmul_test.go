package tensor_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/tensor"
)

// attentionQ returns x.Permute(0, 2, 1, 3) for x [B,T,H,D]: the per-head
// [B,H,T,D] layout attention uses, whose batch dimensions do not collapse
// to one stride.
func attentionQ(b, tt, h, d int) operand {
	return operand{fmt.Sprintf("[%d %d %d %d] from [B,T,H,D]", b, h, tt, d), func(rng *rand.Rand) *tensor.Tensor {
		return randSigned(rng, b, tt, h, d).Permute(0, 2, 1, 3)
	}}
}

// attentionKT returns x.Permute(0, 2, 3, 1) for x [B,T,H,D]: keys
// transposed per head, [B,H,D,T].
func attentionKT(b, tt, h, d int) operand {
	return operand{fmt.Sprintf("[%d %d %d %d] K^T from [B,T,H,D]", b, h, d, tt), func(rng *rand.Rand) *tensor.Tensor {
		return randSigned(rng, b, tt, h, d).Permute(0, 2, 3, 1)
	}}
}

// fusedQKV returns the part-th of q, k, v from a fused [B,T,3,H,D] tensor,
// as [B,H,T,D]: rows are 3*H*D apart, wider than the D columns.
func fusedQKV(b, tt, h, d, part int) operand {
	return operand{fmt.Sprintf("[%d %d %d %d] part %d of fused qkv", b, h, tt, d, part), func(rng *rand.Rand) *tensor.Tensor {
		return randSigned(rng, b, tt, 3, h, d).Slice(2, part, part+1).Squeeze(2).Permute(0, 2, 1, 3)
	}}
}

func sliced(base []int, dim, start, end int) operand {
	return operand{fmt.Sprintf("%v sliced on %d [%d:%d]", base, dim, start, end), func(rng *rand.Rand) *tensor.Tensor {
		return randSigned(rng, base...).Slice(dim, start, end)
	}}
}

func lastTransposed(shape ...int) operand {
	return operand{fmt.Sprintf("%v with last two transposed", shape), func(rng *rand.Rand) *tensor.Tensor {
		return randSigned(rng, shape...).Transpose(-1, -2)
	}}
}

var matmulCases = []struct{ a, b operand }{
	{contig(5, 7), contig(7, 3)},
	{transposed(5, 7), contig(7, 3)},
	{contig(5, 7), transposed(7, 3)},
	{transposed(5, 7), transposed(7, 3)},
	{sliced([]int{6, 12}, 1, 2, 9), sliced([]int{7, 10}, 1, 3, 6)},
	{sliced([]int{7, 10}, 1, 2, 8).transposedView(), sliced([]int{9, 7}, 0, 2, 9).transposedView().transposedView()},
	{contig(5, 7), sliced([]int{3, 11}, 1, 1, 8).transposedView()},
	{sliced([]int{9, 7}, 0, 1, 6), contig(7, 3)},
	{contig(1, 7), contig(7, 1)},
	{contig(5, 1), contig(1, 3)},
	{contig(1, 1), contig(1, 1)},
	{transposed(1, 7), contig(7, 4)},
	{contig(3, 7), transposed(7, 1)},
	{contig(7).unsqueezed(0), contig(7).unsqueezed(1)},
	{contig(3, 0), contig(0, 4)},
	{transposed(3, 0), transposed(0, 4)},
	{contig(0, 5), contig(5, 3)},
	{contig(4, 5), contig(5, 0)},
	{contig(40, 33), contig(33, 20)},
	{transposed(40, 33), transposed(33, 20)},
	{contig(4, 5, 7), contig(4, 7, 3)},
	{contig(4, 5, 7), contig(7, 3)},
	{contig(2, 3, 5, 7), contig(2, 3, 7, 4)},
	{contig(2, 3, 5, 7), contig(7, 4)},
	{contig(3, 20, 16), contig(16, 9)},
	{lastTransposed(4, 7, 5), lastTransposed(4, 3, 7)},
	{lastTransposed(4, 7, 5), contig(7, 3)},
	{contig(4, 5, 7), lastTransposed(3, 7)},
	{lastTransposed(2, 3, 7, 5), lastTransposed(2, 3, 4, 7)},
	{sliced([]int{4, 5, 10}, 2, 0, 7), contig(7, 3)},
	{sliced([]int{4, 6, 7}, 1, 0, 5), contig(7, 3)},
	{sliced([]int{4, 6, 7}, 1, 1, 6), sliced([]int{5, 7, 3}, 0, 1, 5)},
	{attentionQ(2, 6, 3, 4), attentionKT(2, 6, 3, 4)},
	{contig(2, 3, 6, 6), attentionQ(2, 6, 3, 4)},
	{attentionQ(2, 6, 3, 4), lastTransposed(2, 3, 5, 4)},
	{fusedQKV(2, 5, 3, 4, 0), fusedQKV(2, 5, 3, 4, 1).lastTwoSwapped()},
	{contig(2, 3, 5, 5), fusedQKV(2, 5, 3, 4, 2)},
	{expanded([]int{5, 7}, []int{4, 5, 7}), contig(4, 7, 3)},
	{contig(4, 5, 7), expanded([]int{1, 7, 3}, []int{4, 7, 3})},
	{expanded([]int{1, 5, 7}, []int{4, 5, 7}), contig(7, 3)},
	{contig(2, 3, 5, 7), expanded([]int{2, 1, 7, 4}, []int{2, 3, 7, 4})},
	{contig(2, 3, 5, 7), expanded([]int{7, 4}, []int{2, 3, 7, 4})},
	{contig(1, 2, 1, 5, 7), contig(1, 2, 1, 7, 3)},
	{contig(1, 2, 1, 5, 7), contig(7, 3)},
	{contig(1, 5, 7), contig(7, 3)},
	{sliced([]int{2, 1, 6, 5, 7}, 2, 1, 4), contig(7, 3)},
	{sliced([]int{2, 1, 6, 5, 7}, 2, 1, 4), sliced([]int{2, 1, 3, 9, 3}, 3, 2, 9)},
	{contig(0, 5, 7), contig(0, 7, 3)},
	{contig(0, 5, 7), contig(7, 3)},
	{contig(2, 0, 5, 7), contig(7, 3)},
	{contig(3, 4, 0), contig(3, 0, 2)},
}

func (o operand) transposedView() operand {
	return operand{o.name + " transposed", func(rng *rand.Rand) *tensor.Tensor { return o.build(rng).T() }}
}

func (o operand) lastTwoSwapped() operand {
	return operand{o.name + " with last two swapped", func(rng *rand.Rand) *tensor.Tensor { return o.build(rng).Transpose(-1, -2) }}
}

func TestMatMul(t *testing.T) {
	forEachKernelPath(t, func(t *testing.T) {
		rng := newRNG(20)
		for _, tc := range matmulCases {
			name := tc.a.name + " x " + tc.b.name
			a, b := tc.a.build(rng), tc.b.build(rng)
			aBefore, bBefore := a.Values(), b.Values()
			want := refMatMul(refOf(a), refOf(b))

			got := tensor.MatMul(a, b)
			assertRef(t, want, got, 1e-5, "MatMul %s", name)

			// out = alpha*a·b + beta*out
			out := randSigned(rng, want.shape...)
			init := refOf(out)
			const alpha, beta = 0.5, -2
			tensor.MatMulInto(out, a, b, alpha, beta)
			scaled := newRef(want.shape, func(idx []int) float64 {
				return alpha*want.at(idx) + beta*init.at(idx)
			})
			assertRef(t, scaled, out, 1e-5, "MatMulInto alpha beta %s", name)

			// beta 0 ignores what out held, NaN included.
			out.Fill(nan32)
			tensor.MatMulInto(out, a, b, 1, 0)
			assertRef(t, want, out, 1e-5, "MatMulInto beta=0 over NaN %s", name)

			// alpha 0, beta 1 leaves out as it was.
			out2 := randSigned(rng, want.shape...)
			before := out2.Values()
			tensor.MatMulInto(out2, a, b, 0, 1)
			assert.Equal(t, before, out2.Values(), "alpha=0 beta=1 %s", name)

			assert.Equal(t, aBefore, a.Values(), "a changed: %s", name)
			assert.Equal(t, bBefore, b.Values(), "b changed: %s", name)
		}
	})
}

func TestMatMulIntoOutWithOffset(t *testing.T) {
	rng := newRNG(21)
	base := tensor.Full(5, 4, 3)
	out := base.Slice(0, 1, 3) // [2 3], offset 3
	a, b := randSigned(rng, 2, 4), randSigned(rng, 4, 3)
	tensor.MatMulInto(out, a, b, 1, 0)
	assertRef(t, refMatMul(refOf(a), refOf(b)), out, 1e-6)
	assert.Equal(t, []float32{5, 5, 5}, base.Slice(0, 0, 1).Data())
	assert.Equal(t, []float32{5, 5, 5}, base.Slice(0, 3, 4).Data())
}

func TestMatMulShape(t *testing.T) {
	tests := []struct{ a, b, want []int }{
		{[]int{2, 3}, []int{3, 4}, []int{2, 4}},
		{[]int{5, 2, 3}, []int{5, 3, 4}, []int{5, 2, 4}},
		{[]int{5, 2, 3}, []int{3, 4}, []int{5, 2, 4}},
		{[]int{6, 5, 2, 3}, []int{3, 4}, []int{6, 5, 2, 4}},
		{[]int{2, 0}, []int{0, 4}, []int{2, 4}},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, tensor.MatMulShape("op", tc.a, tc.b))
	}
}

func TestMatMulPanics(t *testing.T) {
	for _, tc := range []struct {
		a, b []int
		why  string
	}{
		{[]int{2, 3}, []int{4, 5}, "inner dimensions differ"},
		{[]int{8, 384}, []int{256, 1536}, "inner dimensions differ"},
		{[]int{5, 2, 3}, []int{4, 3, 4}, "batch dimensions differ"},
		{[]int{2, 3}, []int{5, 3, 4}, "batch dimensions differ"},
		{[]int{2, 5, 2, 3}, []int{5, 3, 4}, "batch dimensions differ"},
		{[]int{3}, []int{3, 4}, "2-D"},
		{[]int{2, 3}, []int{3}, "2-D"},
		{[]int{}, []int{}, "2-D"},
	} {
		a, b := tensor.New(tc.a...), tensor.New(tc.b...)
		sa, sb := fmt.Sprint(tc.a), fmt.Sprint(tc.b)
		assertPanicMentions(t, func() { tensor.MatMul(a, b) }, "tensor.MatMul", tc.why, sa, sb)
		assertPanicMentions(t, func() { tensor.MatMulInto(tensor.New(2, 4), a, b, 1, 0) }, "tensor.MatMulInto", tc.why, sa, sb)
		assertPanicMentions(t, func() { tensor.MatMulShape("autograd.MatMul", tc.a, tc.b) }, "autograd.MatMul", tc.why, sa, sb)
	}
	a, b := tensor.New(2, 3), tensor.New(3, 4)
	assertPanicMentions(t, func() { tensor.MatMulInto(tensor.New(4, 2), a, b, 1, 0) }, "tensor.MatMulInto", "[4 2]", "[2 4]")
	assertPanicMentions(t, func() { tensor.MatMulInto(tensor.New(1, 2, 4), a, b, 1, 0) }, "tensor.MatMulInto", "[1 2 4]")
	assertPanicMentions(t, func() { tensor.MatMulInto(tensor.New(4, 2).T(), a, b, 1, 0) }, "tensor.MatMulInto", "[2 4]", "contiguous")
}

func TestLayout(t *testing.T) {
	tests := []struct {
		name        string
		x           *tensor.Tensor
		ok          bool
		ld          int
		trans       bool
		batchStride int
		batchOK     bool
	}{
		{"contiguous", tensor.New(5, 7), true, 7, false, 0, true},
		{"transposed", tensor.New(7, 5).T(), true, 5, true, 0, true},
		{"column slice", tensor.New(6, 12).Slice(1, 2, 9), true, 12, false, 0, true},
		{"transposed column slice", tensor.New(7, 10).Slice(1, 2, 8).T(), true, 10, true, 0, true},
		{"row vector", tensor.New(1, 7), true, 7, false, 0, true},
		{"row of a transpose", tensor.New(7, 4).T().Slice(0, 1, 2), true, 4, true, 0, true},
		{"column vector", tensor.New(5, 1), true, 1, false, 0, true},
		{"column of a matrix", tensor.New(5, 3).Slice(1, 2, 3), true, 3, false, 0, true},
		{"expanded rows", tensor.New(1, 7).Expand(5, 7), false, 0, false, 0, true},
		{"expanded columns", tensor.New(5, 1).Expand(5, 7), false, 0, false, 0, true},
		{"1-D", tensor.New(5), false, 0, false, 0, true},
		{"batched", tensor.New(4, 5, 7), true, 7, false, 35, true},
		{"batched transposed", tensor.New(4, 7, 5).Transpose(1, 2), true, 5, true, 35, true},
		{"batch of 4-D", tensor.New(2, 3, 5, 7), true, 7, false, 35, true},
		{"batch with size-1 dims", tensor.New(1, 2, 1, 5, 7), true, 7, false, 35, true},
		{"batch with an inner size-1 dim", tensor.New(2, 1, 3, 5, 7), true, 7, false, 35, true},
		{"gapped batch with an inner size-1 dim", tensor.New(2, 1, 6, 5, 7).Slice(2, 0, 3), false, 0, false, 0, false},
		{"sliced batch", tensor.New(6, 5, 7).Slice(0, 1, 4), true, 7, false, 35, true},
		{"sliced rows in batch", tensor.New(4, 6, 7).Slice(1, 0, 5), true, 7, false, 42, true},
		{"expanded batch", tensor.New(1, 5, 7).Expand(4, 5, 7), true, 7, false, 0, true},
		{"expanded 2-D batch", tensor.New(5, 7).Expand(2, 3, 5, 7), true, 7, false, 0, true},
		{"partly expanded batch", tensor.New(2, 1, 5, 7).Expand(2, 3, 5, 7), false, 0, false, 0, false},
		{"permuted [B,H,T,D]", tensor.New(2, 6, 3, 4).Permute(0, 2, 1, 3), false, 0, false, 0, false},
		{"permuted [B,H,D,T]", tensor.New(2, 6, 3, 4).Permute(0, 2, 3, 1), false, 0, false, 0, false},
		{"heads of one batch", tensor.New(1, 6, 3, 4).Permute(0, 2, 1, 3), true, 12, false, 4, true},
		{"batch-major permute", tensor.New(3, 2, 6, 4).Permute(1, 0, 2, 3), false, 0, false, 0, false},
	}
	for _, tc := range tests {
		bs, bok := tc.x.BatchStride()
		assert.Equal(t, tc.batchOK, bok, "%s: BatchStride ok", tc.name)
		if bok {
			assert.Equal(t, tc.batchStride, bs, "%s: BatchStride", tc.name)
		}
		l, ok := tc.x.Layout()
		if !assert.Equal(t, tc.ok, ok, "%s: Layout ok", tc.name) || !ok {
			continue
		}
		assert.Equal(t, tc.ld, l.LD, "%s: LD", tc.name)
		assert.Equal(t, tc.trans, l.Trans, "%s: Trans", tc.name)
		st := tc.x.Storage()
		require.NotEmpty(t, l.Data, tc.name)
		assert.True(t, &st[tc.x.Offset()] == &l.Data[0], "%s: Data starts at the first element", tc.name)
	}
}

// TestMatMulIntoUsesViewsInPlace checks that strided operands Sgemm can
// read directly are not copied first: MatMulInto on them allocates no more
// than on contiguous operands of the same shapes.
func TestMatMulIntoUsesViewsInPlace(t *testing.T) {
	rng := newRNG(22)
	for _, tc := range []struct {
		name string
		a, b *tensor.Tensor
	}{
		{"a transposed", randSigned(rng, 7, 5).T(), randSigned(rng, 7, 3)},
		{"b transposed", randSigned(rng, 5, 7), randSigned(rng, 3, 7).T()},
		{"both transposed", randSigned(rng, 7, 5).T(), randSigned(rng, 3, 7).T()},
		{"column slices", randSigned(rng, 5, 12).Slice(1, 2, 9), randSigned(rng, 7, 10).Slice(1, 3, 6)},
		{"batched transposed", randSigned(rng, 4, 7, 5).Transpose(1, 2), randSigned(rng, 4, 3, 7).Transpose(1, 2)},
		{"expanded batch", randSigned(rng, 1, 5, 7).Expand(4, 5, 7), randSigned(rng, 4, 7, 3)},
		{"attention scores", randSigned(rng, 2, 6, 3, 4).Permute(0, 2, 1, 3), randSigned(rng, 2, 6, 3, 4).Permute(0, 2, 3, 1)},
		{"attention values", randSigned(rng, 2, 3, 6, 6), randSigned(rng, 2, 6, 3, 4).Permute(0, 2, 1, 3)},
		{"fused qkv", randSigned(rng, 2, 6, 3, 3, 4).Slice(2, 0, 1).Squeeze(2).Permute(0, 2, 1, 3), randSigned(rng, 2, 6, 3, 3, 4).Slice(2, 1, 2).Squeeze(2).Permute(0, 2, 3, 1)},
	} {
		ac, bc := tc.a.Contiguous(), tc.b.Contiguous()
		require.True(t, ac != tc.a || bc != tc.b, "%s: a case needs a strided operand", tc.name)
		out := tensor.New(tensor.MatMulShape("test", tc.a.Shape(), tc.b.Shape())...)
		contiguous := testing.AllocsPerRun(20, func() { tensor.MatMulInto(out, ac, bc, 1, 0) })
		views := testing.AllocsPerRun(20, func() { tensor.MatMulInto(out, tc.a, tc.b, 1, 0) })
		assert.LessOrEqual(t, views, contiguous, "%s: MatMulInto copied a view (%v allocations, %v for contiguous operands)", tc.name, views, contiguous)
		assertRef(t, refMatMul(refOf(tc.a), refOf(tc.b)), out, 1e-5, tc.name)
	}
}

// An inner dimension of 0 makes a·b all zeros, whatever the layout of the
// empty operands.
func TestMatMulEmptyInner(t *testing.T) {
	for _, tc := range []struct{ a, b *tensor.Tensor }{
		{tensor.New(3, 0), tensor.New(0, 4)},
		{tensor.New(3, 5).Slice(1, 2, 2), tensor.New(6, 4).Slice(0, 6, 6)},
		{tensor.New(2, 3, 5).Slice(2, 5, 5), tensor.New(2, 7, 4).Slice(1, 0, 0)},
		{tensor.New(2, 3, 5).Slice(2, 1, 1), tensor.New(5, 4).Slice(0, 5, 5)},
		{tensor.New(5, 0).T().T(), tensor.New(4, 0).T()},
	} {
		shape := tensor.MatMulShape("test", tc.a.Shape(), tc.b.Shape())
		assert.Equal(t, tensor.Zeros(shape...).Values(), tensor.MatMul(tc.a, tc.b).Values())
		out := tensor.Full(2, shape...)
		tensor.MatMulInto(out, tc.a, tc.b, 1, 3)
		assert.Equal(t, tensor.Full(6, shape...).Values(), out.Values())
		out.Fill(nan32)
		tensor.MatMulInto(out, tc.a, tc.b, 1, 0)
		assert.Equal(t, tensor.Zeros(shape...).Values(), out.Values())
	}
}
