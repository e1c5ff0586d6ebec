package autograd

import (
	"fmt"
	"sync/atomic"

	"github.com/kiln-ml/kiln/tensor"
)

// Var is a node of the graph: a value, and for nodes that need one, a
// gradient filled in by Backward.
type Var struct {
	value *tensor.Tensor
	grad  *tensor.Tensor
	// hasGrad is false until something writes the gradient since the last
	// ZeroGrad; grad's contents are stale until then.
	hasGrad      bool
	requiresGrad bool
	leaf         bool
	parents      []*Var
	pbuf         [3]*Var
	backward     func(g *tensor.Tensor)
	tape         *Tape
	mark         uint64
	name         string
}

// Param returns a leaf that requires a gradient, with x as its value (no
// copy). Its gradient buffer is allocated once and kept.
func Param(x *tensor.Tensor) *Var {
	return &Var{value: x, leaf: true, requiresGrad: true}
}

// Const returns a leaf without gradient, with x as its value (no copy).
// Operations on constants and parameters alone allocate on the heap; use
// Tape.Const to draw results from a tape.
func Const(x *tensor.Tensor) *Var { return &Var{value: x, leaf: true} }

// Scalar returns a constant 0-dimensional Var holding v.
func Scalar(v float32) *Var { return Const(tensor.Scalar(v)) }

// Value returns the tensor the Var holds.
func (v *Var) Value() *tensor.Tensor { return v.value }

// Shape returns the shape of the value.
func (v *Var) Shape() []int { return v.value.Shape() }

// Item returns the only element of a one-element Var.
func (v *Var) Item() float32 { return v.value.Item() }

// Grad returns the gradient accumulated by Backward since the last ZeroGrad,
// or nil if none has been.
func (v *Var) Grad() *tensor.Tensor {
	if !v.hasGrad {
		return nil
	}
	return v.grad
}

// GradBuffer returns the gradient storage of a parameter, allocating it on
// first use, whether or not a gradient has been written (zero after ZeroGrad
// only if ZeroGradFill was used). Optimizers use Grad instead.
func (v *Var) GradBuffer() *tensor.Tensor {
	if v.grad == nil {
		v.grad = tensor.New(v.value.Shape()...)
	}
	return v.grad
}

// SetGrad replaces the gradient with a copy of g (same shape) and marks it
// present, as if Backward had produced it.
func (v *Var) SetGrad(g *tensor.Tensor) {
	buf, _ := v.gradBuf()
	buf.CopyFrom(g)
}

// RequiresGrad reports whether Backward computes a gradient for v.
func (v *Var) RequiresGrad() bool { return v.requiresGrad }

// SetRequiresGrad turns gradient tracking of a leaf on or off (freezing a
// parameter, for instance). It panics for non-leaves.
func (v *Var) SetRequiresGrad(b bool) {
	if !v.leaf {
		panic("autograd.SetRequiresGrad: only leaves (Param, Const) can change whether they need a gradient")
	}
	v.requiresGrad = b
}

// IsLeaf reports whether v was made by Param or Const rather than by an operation.
func (v *Var) IsLeaf() bool { return v.leaf }

// Name returns the name given with SetName.
func (v *Var) Name() string { return v.name }

// SetName names the Var (parameters carry their hierarchical names).
func (v *Var) SetName(name string) *Var { v.name = name; return v }

// ZeroGrad forgets the gradient without touching memory: the next
// accumulation overwrites it, and Grad returns nil until then.
func (v *Var) ZeroGrad() { v.hasGrad = false }

// Detach returns a constant leaf sharing v's value. A Var made on a tape
// stays valid only until the tape's Reset; Clone the value to keep it longer.
func (v *Var) Detach() *Var { return Const(v.value) }

// String describes the Var briefly.
func (v *Var) String() string {
	kind := "op"
	if v.leaf {
		kind = "const"
		if v.requiresGrad {
			kind = "param"
		}
	}
	if v.name != "" {
		return fmt.Sprintf("Var(%s %s %v)", kind, v.name, v.value.Shape())
	}
	return fmt.Sprintf("Var(%s %v)", kind, v.value.Shape())
}

// gradBuf returns v's gradient buffer; fresh reports that its contents are
// stale, so the caller must overwrite rather than add to it. Afterwards the
// gradient counts as present.
func (v *Var) gradBuf() (g *tensor.Tensor, fresh bool) {
	fresh = !v.hasGrad
	if v.grad == nil {
		if v.leaf {
			v.grad = tensor.New(v.value.Shape()...)
		} else {
			v.grad = v.tape.alloc(v.value.Shape()...)
		}
		fresh = true
	}
	v.hasGrad = true
	return v.grad, fresh
}

// accumulate adds src (same shape as v, any layout) into v's gradient.
func (v *Var) accumulate(src *tensor.Tensor) {
	g, fresh := v.gradBuf()
	if fresh {
		g.CopyFrom(src)
		return
	}
	tensor.AddInto(g, src)
}

// passGrad gives g (v's shape, contiguous) to v as its gradient. When v is
// not a leaf and has no gradient yet, v adopts g's storage instead of copying
// it: Backward visits each node once, so the consumer that produced g never
// reads it again. Otherwise g is added.
func (v *Var) passGrad(g *tensor.Tensor) {
	if !v.leaf && !v.hasGrad && g.IsContiguous() {
		v.grad, v.hasGrad = g, true
		return
	}
	v.accumulate(g)
}

// result wraps value as the output of an operation on tape t.
func (t *Tape) result(value *tensor.Tensor) *Var {
	v := t.newVar()
	v.value = value
	return v
}

// record links v to its inputs if gradients are being recorded and any input
// needs one, and reports whether it did; the caller then sets v.backward.
func (v *Var) record(inputs ...*Var) bool {
	if !v.tape.Recording() {
		return false
	}
	need := false
	for _, in := range inputs {
		if in != nil && in.requiresGrad {
			need = true
			break
		}
	}
	if !need {
		return false
	}
	v.requiresGrad = true
	if len(inputs) <= len(v.pbuf) {
		v.parents = v.pbuf[:0]
	}
	for _, in := range inputs {
		if in != nil && in.requiresGrad {
			v.parents = append(v.parents, in)
		}
	}
	return true
}

var epoch atomic.Uint64

// Backward computes the gradient of v, which must hold one element, with
// respect to every Var it depends on that requires a gradient, adding into
// their gradients.
func (v *Var) Backward() {
	if v.value.Size() != 1 {
		panic(fmt.Sprintf("autograd.Backward: value of shape %v is not a scalar; use BackwardWith", v.value.Shape()))
	}
	g := v.tape.alloc(v.value.Shape()...)
	g.Fill(1)
	v.BackwardWith(g)
}

// BackwardWith runs Backward seeded with the gradient g of some scalar
// with respect to v (g has v's shape).
func (v *Var) BackwardWith(g *tensor.Tensor) {
	if !tensor.SameShape(g, v.value) {
		panic(fmt.Sprintf("autograd.BackwardWith: gradient of shape %v for a value of shape %v", g.Shape(), v.value.Shape()))
	}
	if !v.requiresGrad {
		panic("autograd.Backward: the value does not depend on anything that requires a gradient (or was computed on a tape made WithoutGrad)")
	}
	order := topoOrder(v)
	v.accumulate(g)
	for i := len(order) - 1; i >= 0; i-- {
		n := order[i]
		if n.backward != nil && n.hasGrad {
			n.backward(n.grad)
		}
	}
	if v.tape != nil {
		clear(order)
		v.tape.order = order[:0]
	}
}

// topoOrder returns the nodes reachable from root that require gradients,
// each after all its parents.
func topoOrder(root *Var) []*Var {
	mark := epoch.Add(1)
	var order, stack []*Var
	if t := root.tape; t != nil {
		order, stack = t.order[:0], t.stack[:0]
	}
	// Iterative post-order DFS: a node is pushed twice; the second time it
	// is popped all its parents are done.
	root.mark = mark
	stack = append(stack, root)
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		pushed := false
		for _, p := range n.parents {
			if p.mark != mark {
				p.mark = mark
				stack = append(stack, p)
				pushed = true
				break
			}
		}
		if !pushed {
			stack = stack[:len(stack)-1]
			order = append(order, n)
		}
	}
	if t := root.tape; t != nil {
		t.stack = stack[:0]
	}
	return order
}
