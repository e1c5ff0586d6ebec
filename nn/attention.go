package nn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/kiln-ml/kiln/autograd"
)

// CausalSelfAttention is multi-head self-attention with a causal mask, a
// fused query/key/value projection and an output projection, as in GPT-2.
type CausalSelfAttention struct {
	QKV   *Linear // [3*dim, dim]
	Proj  *Linear // [dim, dim]
	Heads int
}

// NewCausalSelfAttention returns an attention layer named name. The output
// projection is initialised with projInit (GPT-2 scales it down with depth).
func NewCausalSelfAttention(name string, dim, heads int, bias bool, init, projInit Init, rng *rand.Rand) *CausalSelfAttention {
	if heads <= 0 || dim%heads != 0 {
		panic(fmt.Sprintf("nn.NewCausalSelfAttention %q: dim %d is not divisible by %d heads", name, dim, heads))
	}
	return &CausalSelfAttention{
		QKV:   NewLinear(Join(name, "qkv"), dim, 3*dim, bias, init, rng),
		Proj:  NewLinear(Join(name, "proj"), dim, dim, bias, projInit, rng),
		Heads: heads,
	}
}

// Forward maps x [B, T, dim] to [B, T, dim]; position t attends to
// positions <= t.
func (a *CausalSelfAttention) Forward(x *autograd.Var) *autograd.Var {
	s := x.Shape()
	if len(s) != 3 {
		panic(fmt.Sprintf("nn.CausalSelfAttention: input must be [B, T, dim], have %v", s))
	}
	D := s[2] / a.Heads
	y := autograd.CausalSelfAttention(a.QKV.Forward(x), a.Heads, float32(1/math.Sqrt(float64(D))))
	return a.Proj.Forward(y)
}

// Parameters returns the projections' parameters.
func (a *CausalSelfAttention) Parameters() []*autograd.Var {
	return append(a.QKV.Parameters(), a.Proj.Parameters()...)
}

// MLP is the transformer's feed-forward block: Linear, GELU, Linear.
type MLP struct {
	FC, Proj *Linear
}

// NewMLP returns an MLP named name with a hidden layer of size hidden.
func NewMLP(name string, dim, hidden int, bias bool, init, projInit Init, rng *rand.Rand) *MLP {
	return &MLP{
		FC:   NewLinear(Join(name, "fc"), dim, hidden, bias, init, rng),
		Proj: NewLinear(Join(name, "proj"), hidden, dim, bias, projInit, rng),
	}
}

// Forward maps x [.., dim] to [.., dim].
func (m *MLP) Forward(x *autograd.Var) *autograd.Var {
	return m.Proj.Forward(autograd.GELU(m.FC.Forward(x)))
}

// Parameters returns both layers' parameters.
func (m *MLP) Parameters() []*autograd.Var { return append(m.FC.Parameters(), m.Proj.Parameters()...) }
