package autograd

import (
	"testing"

	"github.com/kiln-ml/kiln/tensor"
)

// benchOp times forward and backward of one op on a reused tape, with
// shapes from the small GPT (B*T = 2048 rows of width 384).
func benchOp(b *testing.B, f func(t *Tape) *Var, inputs ...*Var) {
	tape := NewTape()
	var seed *tensor.Tensor
	run := func() {
		y := f(tape)
		if seed == nil {
			seed = tensor.Full(1, y.Shape()...)
		}
		y.BackwardWith(seed)
		for _, in := range inputs {
			in.ZeroGrad()
		}
		tape.Reset()
	}
	run()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		run()
	}
}

func BenchmarkLinear(b *testing.B) {
	rng := newRNG(1)
	x, w, bias := randParam(rng, 2048, 384), randParam(rng, 1536, 384), randParam(rng, 1536)
	benchOp(b, func(t *Tape) *Var { return Linear(x, w, bias) }, x, w, bias)
}

func BenchmarkLayerNorm(b *testing.B) {
	rng := newRNG(1)
	x, g, bb := randParam(rng, 2048, 384), randParam(rng, 384), randParam(rng, 384)
	benchOp(b, func(t *Tape) *Var { return LayerNorm(x, g, bb, 1e-5) }, x, g, bb)
}

func BenchmarkGELU(b *testing.B) {
	x := randParam(newRNG(1), 2048, 1536)
	benchOp(b, func(t *Tape) *Var { return GELU(x) }, x)
}

func BenchmarkAddResidual(b *testing.B) {
	rng := newRNG(1)
	x, y := randParam(rng, 8, 256, 384), randParam(rng, 8, 256, 384)
	benchOp(b, func(t *Tape) *Var { return Add(x, y) }, x, y)
}

func BenchmarkSoftmax(b *testing.B) {
	x := randParam(newRNG(1), 2048, 256)
	benchOp(b, func(t *Tape) *Var { return Softmax(x) }, x)
}

func BenchmarkCrossEntropy(b *testing.B) {
	x := randParam(newRNG(1), 2048, 256)
	targets := make([]int, 2048)
	for i := range targets {
		targets[i] = i % 256
	}
	benchOp(b, func(t *Tape) *Var { return CrossEntropy(x, targets, -1) }, x)
}

func BenchmarkCausalAttention(b *testing.B) {
	// The small GPT: B=8, T=256, 6 heads of 64.
	rng := newRNG(1)
	q, k, v := randParam(rng, 8, 256, 6, 64), randParam(rng, 8, 256, 6, 64), randParam(rng, 8, 256, 6, 64)
	benchOp(b, func(t *Tape) *Var { return CausalAttention(q, k, v, 0.125) }, q, k, v)
}

func BenchmarkEmbedding(b *testing.B) {
	w := randParam(newRNG(1), 256, 384)
	ids := make([]int, 2048)
	for i := range ids {
		ids[i] = (i * 7) % 256
	}
	benchOp(b, func(t *Tape) *Var { return Embedding(t, w, ids, 8, 256) }, w)
}
