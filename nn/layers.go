package nn

import (
	"fmt"
	"math/rand/v2"

	"github.com/kiln-ml/kiln/autograd"
)

// Linear is y = x·Wᵀ + b with W of shape [out, in] (PyTorch's layout).
type Linear struct {
	Weight *autograd.Var // [out, in]
	Bias   *autograd.Var // [out], nil without bias
}

// NewLinear returns a Linear layer named name with weights from init and a
// zero bias (if bias).
func NewLinear(name string, in, out int, bias bool, init Init, rng *rand.Rand) *Linear {
	if in <= 0 || out <= 0 {
		panic(fmt.Sprintf("nn.NewLinear %q: sizes must be positive, have in=%d out=%d", name, in, out))
	}
	l := &Linear{Weight: NewParameter(Join(name, "weight"), initTensor(init, rng, out, in))}
	if bias {
		l.Bias = NewParameter(Join(name, "bias"), initTensor(Zeros(), rng, out))
	}
	return l
}

// Forward maps x [.., in] to [.., out].
func (l *Linear) Forward(x *autograd.Var) *autograd.Var { return autograd.Linear(x, l.Weight, l.Bias) }

// Parameters returns the weight and, if present, the bias.
func (l *Linear) Parameters() []*autograd.Var {
	if l.Bias == nil {
		return []*autograd.Var{l.Weight}
	}
	return []*autograd.Var{l.Weight, l.Bias}
}

// Embedding maps token ids to rows of a [n, dim] table.
type Embedding struct {
	Weight *autograd.Var // [n, dim]
}

// NewEmbedding returns an embedding table named name.
func NewEmbedding(name string, n, dim int, init Init, rng *rand.Rand) *Embedding {
	if n <= 0 || dim <= 0 {
		panic(fmt.Sprintf("nn.NewEmbedding %q: sizes must be positive, have n=%d dim=%d", name, n, dim))
	}
	return &Embedding{Weight: NewParameter(Join(name, "weight"), initTensor(init, rng, n, dim))}
}

// Forward returns the rows for ids, shaped [shape..., dim], drawn from tape.
func (e *Embedding) Forward(tape *autograd.Tape, ids []int, shape ...int) *autograd.Var {
	return autograd.Embedding(tape, e.Weight, ids, shape...)
}

// Parameters returns the table.
func (e *Embedding) Parameters() []*autograd.Var { return []*autograd.Var{e.Weight} }

// LayerNorm normalises the last dimension and applies a learned scale and
// shift.
type LayerNorm struct {
	Weight, Bias *autograd.Var // [dim]; Bias nil without bias
	Eps          float32
}

// NewLayerNorm returns a LayerNorm named name with weight 1 and bias 0.
func NewLayerNorm(name string, dim int, bias bool) *LayerNorm {
	l := &LayerNorm{Weight: NewParameter(Join(name, "weight"), initTensor(Constant(1), nil, dim)), Eps: 1e-5}
	if bias {
		l.Bias = NewParameter(Join(name, "bias"), initTensor(Zeros(), nil, dim))
	}
	return l
}

// Forward normalises x [.., dim].
func (l *LayerNorm) Forward(x *autograd.Var) *autograd.Var {
	return autograd.LayerNorm(x, l.Weight, l.Bias, l.Eps)
}

// Parameters returns the weight and, if present, the bias.
func (l *LayerNorm) Parameters() []*autograd.Var {
	if l.Bias == nil {
		return []*autograd.Var{l.Weight}
	}
	return []*autograd.Var{l.Weight, l.Bias}
}

// RMSNorm scales the last dimension by its reciprocal root mean square and a
// learned weight ('Root Mean Square Layer Normalization').
type RMSNorm struct {
	Weight *autograd.Var // [dim]
	Eps    float32
}

// NewRMSNorm returns an RMSNorm named name with weight 1.
func NewRMSNorm(name string, dim int) *RMSNorm {
	return &RMSNorm{Weight: NewParameter(Join(name, "weight"), initTensor(Constant(1), nil, dim)), Eps: 1e-6}
}

// Forward normalises x [.., dim].
func (l *RMSNorm) Forward(x *autograd.Var) *autograd.Var { return autograd.RMSNorm(x, l.Weight, l.Eps) }

// Parameters returns the weight.
func (l *RMSNorm) Parameters() []*autograd.Var { return []*autograd.Var{l.Weight} }
