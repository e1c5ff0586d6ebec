package optim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/autograd"
	"github.com/kiln-ml/kiln/tensor"
)

// vec returns a named 1-D parameter holding vals.
func vec(name string, vals ...float32) *autograd.Var {
	return autograd.Param(tensor.FromSlice(append([]float32(nil), vals...), len(vals))).SetName(name)
}

// setGrad gives p the gradient g (p's shape).
func setGrad(p *autograd.Var, g ...float32) {
	p.SetGrad(tensor.FromSlice(append([]float32(nil), g...), p.Shape()...))
}

// values returns a copy of p's elements.
func values(p *autograd.Var) []float32 { return append([]float32(nil), p.Value().Data()...) }

// assertRel checks got against float64 golden values within a relative
// tolerance; a zero golden value must be matched within tol absolutely.
func assertRel(t *testing.T, want []float64, got []float32, tol float64, msgAndArgs ...any) bool {
	t.Helper()
	if !assert.Len(t, got, len(want), msgAndArgs...) {
		return false
	}
	for i := range want {
		d := math.Abs(want[i] - float64(got[i]))
		if d > tol*math.Abs(want[i]) && !(want[i] == 0 && d <= 1e-7) {
			return assert.Fail(t, fmt.Sprintf("element %d: want %.12g, got %.9g (relative error %.3g, tolerance %g)",
				i, want[i], got[i], d/math.Abs(want[i]), tol), msgAndArgs...)
		}
	}
	return true
}

// gpt returns parameters named and shaped as the small GPT's (d = dim,
// layers blocks, vocabulary 256, context ctx, tied head), with values from rng.
func gptParams(rng *rand.Rand, dim, layers, ctx int) []*autograd.Var {
	var ps []*autograd.Var
	add := func(name string, shape ...int) {
		ps = append(ps, autograd.Param(tensor.Randn(rng, shape...)).SetName(name))
	}
	add("wte.weight", 256, dim)
	add("wpe.weight", ctx, dim)
	for l := range layers {
		b := fmt.Sprintf("blocks.%d.", l)
		add(b+"ln1.weight", dim)
		add(b+"ln1.bias", dim)
		add(b+"attn.qkv.weight", 3*dim, dim)
		add(b+"attn.qkv.bias", 3*dim)
		add(b+"attn.proj.weight", dim, dim)
		add(b+"attn.proj.bias", dim)
		add(b+"ln2.weight", dim)
		add(b+"ln2.bias", dim)
		add(b+"mlp.fc.weight", 4*dim, dim)
		add(b+"mlp.fc.bias", 4*dim)
		add(b+"mlp.proj.weight", dim, 4*dim)
		add(b+"mlp.proj.bias", dim)
	}
	add("lnf.weight", dim)
	add("lnf.bias", dim)
	return ps
}

// randomGrads gives every parameter a gradient drawn from rng, scaled by s.
func randomGrads(rng *rand.Rand, ps []*autograd.Var, s float32) {
	for _, p := range ps {
		g := p.GradBuffer()
		for i := range g.Data() {
			g.Data()[i] = s * float32(rng.NormFloat64())
		}
		p.SetGrad(g)
	}
}

// cloneParams returns fresh parameters with the same names and values.
func cloneParams(ps []*autograd.Var) []*autograd.Var {
	out := make([]*autograd.Var, len(ps))
	for i, p := range ps {
		out[i] = autograd.Param(p.Value().Clone()).SetName(p.Name())
	}
	return out
}

// requireSameValues checks that two parameter sets hold bitwise equal values.
func requireSameValues(t *testing.T, a, b []*autograd.Var) {
	t.Helper()
	require.Len(t, b, len(a))
	for i := range a {
		x, y := a[i].Value().Data(), b[i].Value().Data()
		for j := range x {
			if math.Float32bits(x[j]) != math.Float32bits(y[j]) {
				require.Failf(t, "values differ", "%s[%d]: %v vs %v", a[i].Name(), j, x[j], y[j])
			}
		}
	}
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x6f7074696d)) }
