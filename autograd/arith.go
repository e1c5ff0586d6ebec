package autograd

import (
	"fmt"
	"math"

	"github.com/kiln-ml/kiln/kernels"
	"github.com/kiln-ml/kiln/tensor"
)

func binary(op tensor.BinaryOp, a, b *Var) (*Var, *Tape) {
	t := tapeOf(op.String(), a, b)
	shape, err := tensor.BroadcastShapes(a.value.Shape(), b.value.Shape())
	if err != nil {
		panic(fmt.Sprintf("autograd.%s: %v", op, err))
	}
	out := t.alloc(shape...)
	tensor.BinaryInto(op, out, a.value, b.value)
	return t.result(out), t
}

// Add returns a + b, broadcasting as NumPy does.
func Add(a, b *Var) *Var {
	r, _ := binary(tensor.OpAdd, a, b)
	if r.record(a, b) {
		r.backward = func(g *tensor.Tensor) {
			// b copies g, then a may adopt it.
			if b.requiresGrad {
				b.accumulateReduced(g, false)
			}
			if a.requiresGrad {
				a.accumulateReduced(g, true)
			}
		}
	}
	return r
}

// Sub returns a - b, broadcasting.
func Sub(a, b *Var) *Var {
	r, t := binary(tensor.OpSub, a, b)
	if r.record(a, b) {
		r.backward = func(g *tensor.Tensor) {
			if b.requiresGrad {
				neg := t.alloc(g.Shape()...)
				kernels.Scale(neg.Data(), g.Data(), -1)
				b.accumulateReduced(neg, true)
			}
			if a.requiresGrad { // last: a may adopt g
				a.accumulateReduced(g, true)
			}
		}
	}
	return r
}

// gradProduct adds reduce(g op x) into v's gradient, where g has the
// output's shape and x broadcasts to it.
func (v *Var) gradProduct(t *Tape, op tensor.BinaryOp, g, x *tensor.Tensor) {
	if tensor.SameShape(v.value, g) {
		v.accumulateFn(t, func(dst []float32) {
			tensor.BinaryInto(op, tensor.FromSlice(dst, g.Shape()...), g, x)
		})
		return
	}
	tmp := t.alloc(g.Shape()...)
	tensor.BinaryInto(op, tmp, g, x)
	v.accumulateReduced(tmp, true)
}

// Mul returns a * b elementwise, broadcasting.
func Mul(a, b *Var) *Var {
	r, t := binary(tensor.OpMul, a, b)
	if r.record(a, b) {
		r.backward = func(g *tensor.Tensor) {
			if a.requiresGrad {
				a.gradProduct(t, tensor.OpMul, g, b.value)
			}
			if b.requiresGrad {
				b.gradProduct(t, tensor.OpMul, g, a.value)
			}
		}
	}
	return r
}

// Div returns a / b elementwise, broadcasting.
func Div(a, b *Var) *Var {
	r, t := binary(tensor.OpDiv, a, b)
	out := r.value
	if r.record(a, b) {
		r.backward = func(g *tensor.Tensor) {
			if a.requiresGrad {
				a.gradProduct(t, tensor.OpDiv, g, b.value)
			}
			if b.requiresGrad {
				// d(a/b)/db = -out/b
				tmp := t.alloc(g.Shape()...)
				tensor.BinaryInto(tensor.OpMul, tmp, g, out)
				tensor.BinaryInto(tensor.OpDiv, tmp, tmp, b.value)
				kernels.Scale(tmp.Data(), tmp.Data(), -1)
				b.accumulateReduced(tmp, true)
			}
		}
	}
	return r
}

// Scale returns s * x.
func Scale(x *Var, s float32) *Var {
	t := tapeOf("Scale", x)
	xv := contig(t, x.value)
	out := t.alloc(xv.Shape()...)
	kernels.Scale(out.Data(), xv.Data(), s)
	r := t.result(out)
	if r.record(x) {
		r.backward = func(g *tensor.Tensor) {
			x.accumulateFn(t, func(dst []float32) { kernels.Scale(dst, g.Data(), s) })
		}
	}
	return r
}

// Neg returns -x.
func Neg(x *Var) *Var { return Scale(x, -1) }

// AddScalar returns x + s.
func AddScalar(x *Var, s float32) *Var {
	return mapOp("AddScalar", x, func(v float32) float32 { return v + s },
		func(_, _, g float32) float32 { return g })
}

// Pow returns x raised to the constant power p elementwise.
func Pow(x *Var, p float32) *Var {
	if p == 2 {
		return Mul(x, x)
	}
	return mapOp("Pow", x, func(v float32) float32 { return float32(math.Pow(float64(v), float64(p))) },
		func(v, _, g float32) float32 { return g * p * float32(math.Pow(float64(v), float64(p-1))) })
}

// Square returns x*x.
func Square(x *Var) *Var { return Mul(x, x) }
