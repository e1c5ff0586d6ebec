package autograd

import (
	"math"
	"testing"

	"github.com/kiln-ml/kiln/kernels"
	"github.com/kiln-ml/kiln/tensor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBackwardAccumulatesAcrossCalls(t *testing.T) {
	x := Param(tensor.FromSlice([]float32{1, 2, 3}, 3))
	for i := 0; i < 2; i++ {
		Sum(Mul(x, x)).Backward()
	}
	assert.Equal(t, []float32{4, 8, 12}, x.Grad().Values())
	x.ZeroGrad()
	assert.Nil(t, x.Grad())
	Sum(x).Backward()
	assert.Equal(t, []float32{1, 1, 1}, x.Grad().Values(), "after ZeroGrad the gradient is overwritten, not added")
}

func TestDiamondGraph(t *testing.T) {
	// y = sum(a*a + a) uses a twice along two paths.
	a := Param(tensor.FromSlice([]float32{1, -2}, 2))
	b := Tanh(a)
	y := Sum(Add(Mul(b, b), b))
	y.Backward()
	for i, v := range []float64{1, -2} {
		tb := math.Tanh(v)
		want := (2*tb + 1) * (1 - tb*tb)
		assert.InDelta(t, want, a.Grad().At(i), 1e-6)
	}
}

func TestConstHasNoGrad(t *testing.T) {
	c := Const(tensor.Ones(2))
	p := Param(tensor.Ones(2))
	Sum(Mul(c, p)).Backward()
	assert.Nil(t, c.Grad())
	assert.NotNil(t, p.Grad())
	assert.PanicsWithValue(t, "autograd.Backward: the value does not depend on anything that requires a gradient (or was computed on a tape made WithoutGrad)",
		func() { Sum(c).Backward() })
}

func TestFrozenParam(t *testing.T) {
	p := Param(tensor.Ones(2))
	q := Param(tensor.Ones(2))
	q.SetRequiresGrad(false)
	Sum(Mul(p, q)).Backward()
	assert.Nil(t, q.Grad())
	assert.Equal(t, []float32{1, 1}, p.Grad().Values())
}

func TestTapeWithoutGradRecordsNothing(t *testing.T) {
	tape := NewTape(WithoutGrad())
	w := Param(tensor.Ones(3, 2))
	x := tape.Const(tensor.Ones(4, 3))
	y := Sum(MatMul(x, w))
	assert.False(t, y.RequiresGrad())
	assert.Equal(t, float32(24), y.Item())
	assert.Panics(t, func() { y.Backward() })
}

func TestMixedTapesPanic(t *testing.T) {
	a, b := NewTape(), NewTape()
	x := a.Const(tensor.Ones(2))
	y := b.Const(tensor.Ones(2))
	assert.PanicsWithValue(t, "autograd.Add: inputs were recorded on different tapes", func() { Add(x, y) })
}

func TestShapeErrorsNameOpAndShapes(t *testing.T) {
	x := Param(tensor.Ones(8, 384))
	w := Param(tensor.Ones(256, 1536))
	assert.PanicsWithValue(t, "autograd.MatMul: inner dimensions differ: [8 384] x [256 1536]", func() { MatMul(x, w) })
	assert.PanicsWithValue(t, "autograd.Add: shapes [8 384] and [256 1536] do not broadcast (dimension 0: 8 vs 256)", func() { Add(x, w) })
	assert.PanicsWithValue(t, "autograd.Linear: input [8 384] does not fit weight [256 1536] (want [.., 1536])", func() { Linear(x, w, nil) })
	assert.PanicsWithValue(t, "autograd.Embedding: id 7 at position 1 is out of range [0, 5)", func() {
		Embedding(nil, Param(tensor.Ones(5, 2)), []int{0, 7})
	})
	assert.PanicsWithValue(t, "autograd.CrossEntropy: 3 targets for logits of shape [2 5] (2 rows)", func() {
		CrossEntropy(Param(tensor.Ones(2, 5)), []int{0, 1, 2}, -1)
	})
	assert.PanicsWithValue(t, "autograd.CrossEntropy: target 5 at position 0 is out of range [0, 5)", func() {
		CrossEntropy(Param(tensor.Ones(2, 5)), []int{5, 1}, -1)
	})
	assert.PanicsWithValue(t, "autograd.LayerNorm: gamma of shape [3] does not fit input [2 5] (want [5])", func() {
		LayerNorm(Param(tensor.Ones(2, 5)), Param(tensor.Ones(3)), nil, 1e-5)
	})
	assert.PanicsWithValue(t, "autograd.Backward: value of shape [8 384] is not a scalar; use BackwardWith", func() { x.Backward() })
}

func TestCrossEntropyMatchesDefinition(t *testing.T) {
	logits := tensor.FromSlice([]float32{1, 2, 3, 0, 0, 0, -1, 5, 2}, 3, 3)
	l := CrossEntropy(Const(logits), []int{2, -100, 1}, -100)
	want := 0.0
	for _, r := range []struct {
		row []float64
		y   int
	}{{[]float64{1, 2, 3}, 2}, {[]float64{-1, 5, 2}, 1}} {
		lse := 0.0
		for _, v := range r.row {
			lse += math.Exp(v)
		}
		want += math.Log(lse) - r.row[r.y]
	}
	assert.InDelta(t, want/2, l.Item(), 1e-6)
	allIgnored := CrossEntropy(Const(logits), []int{-100, -100, -100}, -100)
	assert.True(t, math.IsNaN(float64(allIgnored.Item())), "as in PyTorch, the mean over no rows is NaN")
}

func TestCausalAttentionMatchesComposition(t *testing.T) {
	rng := newRNG(3)
	B, T, H, D := 2, 5, 3, 4
	q, k, v := randParam(rng, B, T, H, D), randParam(rng, B, T, H, D), randParam(rng, B, T, H, D)
	fused := CausalAttention(q, k, v, 0.5)
	// Reference: [B, H, T, D] layout with the generic ops.
	perm := func(x *Var) *Var { return Permute(x, 0, 2, 1, 3) }
	s := Scale(MatMul(perm(q), Transpose(perm(k), -1, -2)), 0.5)
	ref := Permute(MatMul(Softmax(CausalMask(s)), perm(v)), 0, 2, 1, 3)
	assert.Less(t, tensor.MaxAbsDiff(fused.Value(), ref.Value()), 1e-5)
}

// mlpStep is one forward and backward pass of a two-layer MLP on tape.
func mlpStep(tape *Tape, x *tensor.Tensor, y []int, w1, b1, w2, b2 *Var) float32 {
	h := GELU(Linear(tape.Const(x), w1, b1))
	loss := CrossEntropy(Linear(h, w2, b2), y, -1)
	loss.Backward()
	v := loss.Item()
	tape.Reset()
	return v
}

func newMLP(seed uint64, in, hidden, out int) (w1, b1, w2, b2 *Var) {
	rng := newRNG(seed)
	w1 = Param(tensor.Randn(rng, hidden, in))
	b1 = Param(tensor.Randn(rng, hidden))
	w2 = Param(tensor.Randn(rng, out, hidden))
	b2 = Param(tensor.Randn(rng, out))
	return
}

func TestDeterministicAcrossThreads(t *testing.T) {
	defer kernels.SetThreads(kernels.Threads())
	run := func(threads int) [][]float32 {
		kernels.SetThreads(threads)
		w1, b1, w2, b2 := newMLP(1, 64, 256, 10)
		rng := newRNG(2)
		x := tensor.Randn(rng, 128, 64)
		y := make([]int, 128)
		for i := range y {
			y[i] = rng.IntN(10)
		}
		tape := NewTape()
		mlpStep(tape, x, y, w1, b1, w2, b2)
		// Plus a bigger product that the kernels split into blocks.
		a := Param(tensor.Randn(rng, 300, 200))
		b := Param(tensor.Randn(rng, 200, 500))
		Sum(Tanh(MatMul(a, b))).Backward()
		return [][]float32{w1.Grad().Values(), b1.Grad().Values(), w2.Grad().Values(), a.Grad().Values(), b.Grad().Values()}
	}
	one, two := run(1), run(2)
	for i := range one {
		require.Equal(t, one[i], two[i], "gradient %d differs between 1 and 2 threads", i)
	}
}

func TestTapeReusesBuffers(t *testing.T) {
	w1, b1, w2, b2 := newMLP(1, 32, 64, 10)
	x := tensor.Randn(newRNG(5), 16, 32)
	y := make([]int, 16)
	tape := NewTape()
	first := mlpStep(tape, x, y, w1, b1, w2, b2)
	held := tape.HeldBytes()
	require.Greater(t, held, int64(0))
	second := mlpStep(tape, x, y, w1, b1, w2, b2)
	assert.Equal(t, first, second)
	assert.Equal(t, held, tape.HeldBytes(), "the second step reuses exactly the first step's buffers")
	// A warm step allocates only small bookkeeping (closures, slices), not tensor storage.
	allocs := testing.AllocsPerRun(5, func() { mlpStep(tape, x, y, w1, b1, w2, b2) })
	assert.Less(t, allocs, 200.0, "allocations per warm step")
}

func BenchmarkMLPStep1T(b *testing.B) { benchMLPStep(b, 1) }
func BenchmarkMLPStep2T(b *testing.B) { benchMLPStep(b, 2) }

// benchMLPStep times forward and backward of the 512-2048-512 MLP of
// shared/bench/torch_mlp_bench.py, batch 256 (the optimizer step is timed
// in package optim).
func benchMLPStep(b *testing.B, threads int) {
	defer kernels.SetThreads(kernels.Threads())
	kernels.SetThreads(threads)
	w1, b1, w2, b2 := newMLP(1, 512, 2048, 512)
	x := tensor.Randn(newRNG(5), 256, 512)
	y := make([]int, 256)
	tape := NewTape()
	mlpStep(tape, x, y, w1, b1, w2, b2)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		mlpStep(tape, x, y, w1, b1, w2, b2)
		for _, p := range []*Var{w1, b1, w2, b2} {
			p.ZeroGrad()
		}
	}
}

// TestCausalAttentionBlocksMatchComposition checks the blocked path (T
// larger than attnBlock, with a partial last block) against the generic
// ops, values and gradients.
func TestCausalAttentionBlocksMatchComposition(t *testing.T) {
	rng := newRNG(4)
	B, T, H, D := 2, 2*attnBlock+22, 2, 3
	w := tensor.Randn(rng, B, T, H, D)
	for _, aliased := range []bool{false, true} {
		q, k, v := randParam(rng, B, T, H, D), randParam(rng, B, T, H, D), randParam(rng, B, T, H, D)
		if aliased {
			k, v = q, q
		}
		fused := Sum(Mul(CausalAttention(q, k, v, 0.4), Const(w)))
		fused.Backward()
		gq, gk, gv := q.Grad().Clone(), k.Grad().Clone(), v.Grad().Clone()
		for _, p := range []*Var{q, k, v} {
			p.ZeroGrad()
		}
		perm := func(x *Var) *Var { return Permute(x, 0, 2, 1, 3) }
		s := Scale(MatMul(perm(q), Transpose(perm(k), -1, -2)), 0.4)
		ref := Sum(Mul(Permute(MatMul(Softmax(CausalMask(s)), perm(v)), 0, 2, 1, 3), Const(w)))
		ref.Backward()
		assert.InDelta(t, ref.Item(), fused.Item(), 1e-3)
		assert.Less(t, tensor.MaxAbsDiff(gq, q.Grad()), 1e-4, "dq aliased=%v", aliased)
		assert.Less(t, tensor.MaxAbsDiff(gk, k.Grad()), 1e-4, "dk aliased=%v", aliased)
		assert.Less(t, tensor.MaxAbsDiff(gv, v.Grad()), 1e-4, "dv aliased=%v", aliased)
	}
}

func TestCausalSelfAttentionMatchesSlices(t *testing.T) {
	rng := newRNG(6)
	B, T, H, D := 2, attnBlock+30, 3, 4
	C := H * D
	w := tensor.Randn(rng, B, T, C)
	qkv := randParam(rng, B, T, 3*C)
	fused := Sum(Mul(CausalSelfAttention(qkv, H, 0.5), Const(w)))
	fused.Backward()
	want := qkv.Grad().Clone()
	qkv.ZeroGrad()
	part := func(i int) *Var { return Reshape(Slice(qkv, 2, i*C, (i+1)*C), B, T, H, D) }
	ref := Sum(Mul(Reshape(CausalAttention(part(0), part(1), part(2), 0.5), B, T, C), Const(w)))
	ref.Backward()
	assert.InDelta(t, ref.Item(), fused.Item(), 1e-4)
	assert.Less(t, tensor.MaxAbsDiff(want, qkv.Grad()), 1e-5)
}
