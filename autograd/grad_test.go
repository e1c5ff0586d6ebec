package autograd

import (
	"math/rand/v2"
	"testing"

	"github.com/kiln-ml/kiln/tensor"
	"github.com/stretchr/testify/require"
)

func newRNG(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 99)) }

func randParam(rng *rand.Rand, shape ...int) *Var {
	return Param(tensor.Randn(rng, shape...))
}

// awayFrom returns a parameter whose entries are at least gap away from
// every kink point, so finite differences do not straddle one.
func awayFrom(rng *rand.Rand, gap float32, kinks []float32, shape ...int) *Var {
	x := tensor.Randn(rng, shape...)
	d := x.Data()
	for i := range d {
		for _, k := range kinks {
			if diff := d[i] - k; diff < gap && diff > -gap {
				if diff >= 0 {
					d[i] = k + gap + 0.1
				} else {
					d[i] = k - gap - 0.1
				}
			}
		}
	}
	return Param(x)
}

// project reduces y to a scalar with fixed random weights, so every element
// of y gets its own gradient.
func project(seed uint64, y *Var) *Var {
	w := tensor.Randn(newRNG(seed), y.Shape()...)
	return Sum(Mul(y, Const(w)))
}

type gradCase struct {
	name   string
	inputs func(rng *rand.Rand) []*Var
	f      func(in []*Var) *Var
	opts   GradCheckOptions
}

func TestGradients(t *testing.T) {
	cases := []gradCase{
		{"Add", ins(s(3, 4), s(3, 4)), func(in []*Var) *Var { return Add(in[0], in[1]) }, GradCheckOptions{}},
		{"AddBroadcastBias", ins(s(2, 3, 4), s(4)), func(in []*Var) *Var { return Add(in[0], in[1]) }, GradCheckOptions{}},
		{"AddBroadcastOuter", ins(s(3, 1), s(1, 4)), func(in []*Var) *Var { return Add(in[0], in[1]) }, GradCheckOptions{}},
		{"Sub", ins(s(3, 4), s(4)), func(in []*Var) *Var { return Sub(in[0], in[1]) }, GradCheckOptions{}},
		{"SubLeftBroadcast", ins(s(4), s(3, 4)), func(in []*Var) *Var { return Sub(in[0], in[1]) }, GradCheckOptions{}},
		{"Mul", ins(s(3, 4), s(3, 4)), func(in []*Var) *Var { return Mul(in[0], in[1]) }, GradCheckOptions{}},
		{"MulBroadcast", ins(s(2, 3, 4), s(3, 1)), func(in []*Var) *Var { return Mul(in[0], in[1]) }, GradCheckOptions{}},
		{"MulSelf", ins(s(5)), func(in []*Var) *Var { return Mul(in[0], in[0]) }, GradCheckOptions{}},
		{"Div", func(rng *rand.Rand) []*Var {
			return []*Var{randParam(rng, 3, 4), awayFrom(rng, 0.5, []float32{0}, 4)}
		}, func(in []*Var) *Var { return Div(in[0], in[1]) }, GradCheckOptions{}},
		{"Scale", ins(s(3, 4)), func(in []*Var) *Var { return Scale(in[0], -2.5) }, GradCheckOptions{}},
		{"AddScalar", ins(s(3, 4)), func(in []*Var) *Var { return AddScalar(in[0], 3) }, GradCheckOptions{}},
		{"Pow", func(rng *rand.Rand) []*Var { return []*Var{positive(rng, 3, 4)} },
			func(in []*Var) *Var { return Pow(in[0], 1.7) }, GradCheckOptions{}},
		{"Exp", ins(s(3, 4)), func(in []*Var) *Var { return Exp(in[0]) }, GradCheckOptions{}},
		{"Log", func(rng *rand.Rand) []*Var { return []*Var{positive(rng, 3, 4)} },
			func(in []*Var) *Var { return Log(in[0]) }, GradCheckOptions{}},
		{"Sqrt", func(rng *rand.Rand) []*Var { return []*Var{positive(rng, 3, 4)} },
			func(in []*Var) *Var { return Sqrt(in[0]) }, GradCheckOptions{}},
		{"Abs", func(rng *rand.Rand) []*Var { return []*Var{awayFrom(rng, 0.05, []float32{0}, 3, 4)} },
			func(in []*Var) *Var { return Abs(in[0]) }, GradCheckOptions{}},
		{"Clamp", func(rng *rand.Rand) []*Var { return []*Var{awayFrom(rng, 0.05, []float32{-0.5, 0.5}, 3, 4)} },
			func(in []*Var) *Var { return Clamp(in[0], -0.5, 0.5) }, GradCheckOptions{}},
		{"Tanh", ins(s(3, 4)), func(in []*Var) *Var { return Tanh(in[0]) }, GradCheckOptions{}},
		{"Sigmoid", ins(s(3, 4)), func(in []*Var) *Var { return Sigmoid(in[0]) }, GradCheckOptions{}},
		{"ReLU", func(rng *rand.Rand) []*Var { return []*Var{awayFrom(rng, 0.05, []float32{0}, 3, 4)} },
			func(in []*Var) *Var { return ReLU(in[0]) }, GradCheckOptions{}},
		{"GELU", ins(s(3, 5)), func(in []*Var) *Var { return GELU(in[0]) }, GradCheckOptions{}},
		{"GELUErf", ins(s(3, 5)), func(in []*Var) *Var { return GELUErf(in[0]) }, GradCheckOptions{}},
		{"Softplus", ins(s(3, 5)), func(in []*Var) *Var { return Softplus(in[0]) }, GradCheckOptions{}},
		{"LogSigmoid", ins(s(3, 5)), func(in []*Var) *Var { return LogSigmoid(in[0]) }, GradCheckOptions{}},
		{"MatMul", ins(s(3, 4), s(4, 5)), func(in []*Var) *Var { return MatMul(in[0], in[1]) }, GradCheckOptions{}},
		{"MatMulBatched", ins(s(2, 3, 4), s(2, 4, 5)), func(in []*Var) *Var { return MatMul(in[0], in[1]) }, GradCheckOptions{}},
		{"MatMulShared", ins(s(2, 3, 4), s(4, 5)), func(in []*Var) *Var { return MatMul(in[0], in[1]) }, GradCheckOptions{}},
		{"MatMulTransposed", ins(s(4, 3), s(5, 4)), func(in []*Var) *Var {
			return MatMul(Transpose(in[0], 0, 1), Transpose(in[1], 0, 1))
		}, GradCheckOptions{}},
		{"Linear", ins(s(2, 3, 4), s(5, 4), s(5)), func(in []*Var) *Var { return Linear(in[0], in[1], in[2]) }, GradCheckOptions{}},
		{"LinearNoBias", ins(s(3, 4), s(5, 4)), func(in []*Var) *Var { return Linear(in[0], in[1], nil) }, GradCheckOptions{}},
		{"Reshape", ins(s(2, 6)), func(in []*Var) *Var { return Reshape(in[0], 3, -1) }, GradCheckOptions{}},
		{"Transpose", ins(s(2, 3, 4)), func(in []*Var) *Var { return Transpose(in[0], 0, 2) }, GradCheckOptions{}},
		{"Permute", ins(s(2, 3, 4)), func(in []*Var) *Var { return Permute(in[0], 2, 0, 1) }, GradCheckOptions{}},
		{"Slice", ins(s(4, 5)), func(in []*Var) *Var { return Slice(in[0], 1, 1, 4) }, GradCheckOptions{}},
		{"Concat", ins(s(2, 3), s(2, 2), s(2, 1)), func(in []*Var) *Var { return Concat(1, in[0], in[1], in[2]) }, GradCheckOptions{}},
		{"Contiguous", ins(s(3, 4)), func(in []*Var) *Var { return Contiguous(Transpose(in[0], 0, 1)) }, GradCheckOptions{}},
		{"Expand", ins(s(3, 1)), func(in []*Var) *Var { return Expand(in[0], 2, 3, 4) }, GradCheckOptions{}},
		{"Embedding", ins(s(5, 3)), func(in []*Var) *Var { return Embedding(nil, in[0], []int{4, 0, 4, 2}, 2, 2) }, GradCheckOptions{}},
		{"Sum", ins(s(3, 4)), func(in []*Var) *Var { return Scale(Sum(in[0]), 1) }, GradCheckOptions{}},
		{"Mean", ins(s(3, 4)), func(in []*Var) *Var { return Mean(in[0]) }, GradCheckOptions{}},
		{"SumAxis0", ins(s(3, 4, 2)), func(in []*Var) *Var { return SumAxis(in[0], 0, false) }, GradCheckOptions{}},
		{"SumAxis1Keep", ins(s(3, 4, 2)), func(in []*Var) *Var { return SumAxis(in[0], 1, true) }, GradCheckOptions{}},
		{"MeanAxisLast", ins(s(3, 4)), func(in []*Var) *Var { return MeanAxis(in[0], -1, false) }, GradCheckOptions{}},
		{"MaxAxis", func(rng *rand.Rand) []*Var {
			return []*Var{Param(tensor.Arange(0, 12, 1).Reshape(3, 4).Permute(1, 0).Contiguous())}
		},
			func(in []*Var) *Var { return MaxAxis(in[0], 0, false) }, GradCheckOptions{}},
		{"Softmax", ins(s(3, 5)), func(in []*Var) *Var { return Softmax(in[0]) }, GradCheckOptions{}},
		{"LogSoftmax", ins(s(3, 5)), func(in []*Var) *Var { return LogSoftmax(in[0]) }, GradCheckOptions{}},
		{"CausalMaskSoftmax", ins(s(2, 3, 3)), func(in []*Var) *Var { return Softmax(CausalMask(in[0])) }, GradCheckOptions{}},
		{"CausalMaskRect", ins(s(2, 4)), func(in []*Var) *Var { return Softmax(CausalMask(in[0])) }, GradCheckOptions{}},
		{"LayerNorm", ins(s(3, 6), s(6), s(6)), func(in []*Var) *Var { return LayerNorm(in[0], in[1], in[2], 1e-5) }, GradCheckOptions{}},
		{"LayerNormNoAffine", ins(s(3, 6)), func(in []*Var) *Var { return LayerNorm(in[0], nil, nil, 1e-5) }, GradCheckOptions{}},
		{"RMSNorm", ins(s(3, 6), s(6)), func(in []*Var) *Var { return RMSNorm(in[0], in[1], 1e-6) }, GradCheckOptions{}},
		{"Dropout", ins(s(4, 5)), func(in []*Var) *Var { return Dropout(in[0], 0.3, newRNG(7)) }, GradCheckOptions{}},
		{"CrossEntropy", ins(s(4, 5)), func(in []*Var) *Var { return CrossEntropy(in[0], []int{1, -100, 4, 0}, -100) }, GradCheckOptions{}},
		{"TokenLogProbs", ins(s(4, 5)), func(in []*Var) *Var { return TokenLogProbs(in[0], []int{1, 3, -1, 0}, -1) }, GradCheckOptions{}},
		{"CausalAttention", ins(s(2, 5, 3, 4), s(2, 5, 3, 4), s(2, 5, 3, 4)), func(in []*Var) *Var {
			return CausalAttention(in[0], in[1], in[2], 0.5)
		}, GradCheckOptions{}},
		{"CausalAttentionFusedQKV", ins(s(2, 4, 18)), func(in []*Var) *Var {
			qkv := in[0] // [B, T, 3*H*D] with H=2, D=3: q, k, v are strided views
			part := func(i int) *Var { return Reshape(Slice(qkv, 2, 6*i, 6*i+6), 2, 4, 2, 3) }
			q, k, v := part(0), part(1), part(2)
			if q.Value().IsContiguous() {
				panic("test expects a strided view")
			}
			return CausalAttention(q, k, v, 0.7)
		}, GradCheckOptions{}},
		{"CausalSelfAttention", ins(s(2, 4, 18)), func(in []*Var) *Var { return CausalSelfAttention(in[0], 2, 0.7) }, GradCheckOptions{}},
		{"CausalAttentionAliased", ins(s(1, 3, 2, 2)), func(in []*Var) *Var {
			return CausalAttention(in[0], in[0], in[0], 1)
		}, GradCheckOptions{}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rng := newRNG(uint64(i + 1))
			in := c.inputs(rng)
			f := func() *Var { return project(uint64(100+i), c.f(in)) }
			require.NoError(t, CheckGrad(f, in, c.opts))
		})
	}
}

// s is shorthand for a shape.
func s(d ...int) []int { return d }

// ins makes random normal parameters of the given shapes.
func ins(shapes ...[]int) func(*rand.Rand) []*Var {
	return func(rng *rand.Rand) []*Var {
		out := make([]*Var, len(shapes))
		for i, sh := range shapes {
			out[i] = randParam(rng, sh...)
		}
		return out
	}
}

func positive(rng *rand.Rand, shape ...int) *Var {
	x := tensor.Rand(rng, shape...)
	d := x.Data()
	for i := range d {
		d[i] = 0.5 + 2*d[i]
	}
	return Param(x)
}
