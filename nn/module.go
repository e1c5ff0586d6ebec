package nn

import (
	"fmt"

	"github.com/kiln-ml/kiln/autograd"
	"github.com/kiln-ml/kiln/tensor"
)

// Module is anything that owns parameters.
type Module interface {
	// Parameters returns the module's parameters in a fixed order, each
	// named with its full hierarchical name (e.g. "blocks.0.attn.qkv.weight").
	Parameters() []*autograd.Var
}

// NewParameter returns a parameter (a leaf that requires a gradient) named
// name, holding t.
func NewParameter(name string, t *tensor.Tensor) *autograd.Var {
	return autograd.Param(t).SetName(name)
}

// Join builds a hierarchical name from parts, skipping empty ones.
func Join(parts ...string) string {
	out := ""
	for _, p := range parts {
		if p == "" {
			continue
		}
		if out != "" {
			out += "."
		}
		out += p
	}
	return out
}

// Collect concatenates the parameters of several modules and checks that
// names are unique.
func Collect(ms ...Module) []*autograd.Var {
	var out []*autograd.Var
	seen := map[string]bool{}
	for _, m := range ms {
		for _, p := range m.Parameters() {
			if seen[p.Name()] {
				panic(fmt.Sprintf("nn.Collect: parameter name %q used twice", p.Name()))
			}
			seen[p.Name()] = true
			out = append(out, p)
		}
	}
	return out
}

// NumParams returns the total number of elements of the parameters.
func NumParams(params []*autograd.Var) int {
	n := 0
	for _, p := range params {
		n += p.Value().Size()
	}
	return n
}

// ZeroGrad forgets the gradients of all parameters.
func ZeroGrad(params []*autograd.Var) {
	for _, p := range params {
		p.ZeroGrad()
	}
}
