package align

import (
	"fmt"

	"github.com/kiln-ml/kiln/autograd"
	"github.com/kiln-ml/kiln/tensor"
)

// Building blocks the loss files share: constants on the inputs' tape,
// the split of paired rows, and elementwise functions the autograd package
// lacks.

// vec returns a constant [len(v)] Var holding v, drawn from in.Tape.
func (in *Inputs) vec(v []float32) *autograd.Var {
	s := in.Tape.Scratch(len(v))
	copy(s, v)
	return in.Tape.Const(tensor.FromSlice(s, len(v)))
}

// fill returns a constant [n] Var whose elements are f(i).
func (in *Inputs) fill(n int, f func(i int) float32) *autograd.Var {
	s := in.Tape.Scratch(n)
	for i := range s {
		s[i] = f(i)
	}
	return in.Tape.Const(tensor.FromSlice(s, n))
}

// rows checks the inputs every loss needs and returns N.
func (in *Inputs) rows(op string, needRef bool) int {
	if in.Logps == nil {
		panic(fmt.Sprintf("align.%s: Inputs.Logps is nil", op))
	}
	s := in.Logps.Shape()
	if len(s) != 1 || s[0] == 0 {
		panic(fmt.Sprintf("align.%s: Logps has shape %v, want [N] with N > 0", op, s))
	}
	n := s[0]
	if len(in.Lengths) != n {
		panic(fmt.Sprintf("align.%s: %d lengths for %d rows", op, len(in.Lengths), n))
	}
	if needRef && in.Ref == nil {
		panic(fmt.Sprintf("align.%s: the loss needs reference log-probabilities (Inputs.Ref)", op))
	}
	if in.Ref != nil && len(in.Ref) != n {
		panic(fmt.Sprintf("align.%s: %d reference log-probabilities for %d rows", op, len(in.Ref), n))
	}
	return n
}

// logRatios returns Logps - Ref (Logps itself when Ref is nil).
func (in *Inputs) logRatios() *autograd.Var {
	if in.Ref == nil {
		return in.Logps
	}
	return autograd.Sub(in.Logps, in.vec(in.Ref))
}

// invLengths returns the constant 1/max(n, 1) of rows [lo, hi).
func (in *Inputs) invLengths(lo, hi int) *autograd.Var {
	return in.fill(hi-lo, func(i int) float32 { return 1 / float32(max(in.Lengths[lo+i], 1)) })
}

// pairs holds the two halves of paired inputs.
type pairs struct {
	B      int
	pc, pr *autograd.Var // policy log-probabilities of chosen and rejected
	rc, rr *autograd.Var // log-ratios policy - reference (policy when reference-free)
	in     *Inputs
}

// splitPairs checks paired inputs and splits them into halves.
func splitPairs(op string, in *Inputs, needRef bool) *pairs {
	n := in.rows(op, needRef)
	if n%2 != 0 {
		panic(fmt.Sprintf("align.%s: %d rows; paired inputs have 2B rows (B chosen, then B rejected)", op, n))
	}
	B := n / 2
	p := &pairs{B: B, in: in}
	p.pc, p.pr = autograd.Slice(in.Logps, 0, 0, B), autograd.Slice(in.Logps, 0, B, n)
	p.rc, p.rr = p.pc, p.pr
	if in.Ref != nil {
		r := in.logRatios()
		p.rc, p.rr = autograd.Slice(r, 0, 0, B), autograd.Slice(r, 0, B, n)
	}
	return p
}

// avg returns the per-token averages a = π/n of chosen and rejected.
func (p *pairs) avg() (ac, ar *autograd.Var) {
	return autograd.Mul(p.pc, p.in.invLengths(0, p.B)), autograd.Mul(p.pr, p.in.invLengths(p.B, 2*p.B))
}

// normRatios returns the length-normalised log-ratios r/n.
func (p *pairs) normRatios() (nc, nr *autograd.Var) {
	return autograd.Mul(p.rc, p.in.invLengths(0, p.B)), autograd.Mul(p.rr, p.in.invLengths(p.B, 2*p.B))
}

// chosenNLL returns the token-mean negative log-likelihood of the chosen
// completions over the batch, -Σπ_c / Σn_c, the NLL term of RPO, CPO and
// ORPO (spec §5.14).
func (p *pairs) chosenNLL() *autograd.Var {
	return nll(p.pc, p.in.Lengths[:p.B])
}

// nll returns -Σlogps / Σlengths.
func nll(logps *autograd.Var, lengths []int) *autograd.Var {
	tokens := 0
	for _, n := range lengths {
		tokens += n
	}
	return autograd.Scale(autograd.Sum(logps), -1/float32(max(tokens, 1)))
}

// negLogSigmoid returns -(1-ε)·logσ(z) - ε·logσ(-z) elementwise: the DPO
// loss of a margin z with conservative label smoothing ε (cDPO).
func negLogSigmoid(z *autograd.Var, eps float32) *autograd.Var {
	l := autograd.Scale(autograd.LogSigmoid(z), -(1 - eps))
	if eps != 0 {
		l = autograd.Add(l, autograd.Scale(autograd.LogSigmoid(autograd.Neg(z)), -eps))
	}
	return l
}

// pointwise returns f(x) elementwise, with f and its derivative evaluated
// in float64 by df: value f(x0) and gradient f'(x0)·g, composed from
// existing ops as f(x0) + f'(x0)·(x - x0) with x0 constant, so the value is
// exact and the backward pass multiplies by f'(x0).
func (in *Inputs) pointwise(x *autograd.Var, df func(x float64) (y, dy float64)) *autograd.Var {
	xv := x.Value().Values()
	ys, ds := make([]float32, len(xv)), make([]float32, len(xv))
	for i, v := range xv {
		y, d := df(float64(v))
		ys[i], ds[i] = float32(y), float32(d)
	}
	delta := autograd.Sub(x, in.vec(xv)) // zero, carrying the gradient
	return autograd.Add(in.vec(ys), autograd.Mul(in.vec(ds), delta))
}

// values returns the elements of a Var as float64.
func values(v *autograd.Var) []float64 {
	f := v.Value().Values()
	out := make([]float64, len(f))
	for i, x := range f {
		out[i] = float64(x)
	}
	return out
}
