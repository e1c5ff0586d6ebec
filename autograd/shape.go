package autograd

import (
	"fmt"

	"github.com/kiln-ml/kiln/tensor"
)

// Reshape returns x with a new shape (one dimension may be -1): a view
// whenever x's strides allow it (see tensor.View), a copy otherwise.
func Reshape(x *Var, shape ...int) *Var {
	t := tapeOf("Reshape", x)
	s := tensor.InferShape("autograd.Reshape", shape, x.value.Size())
	v, ok := x.value.View(s...)
	if !ok {
		v = contig(t, x.value).Reshape(s...)
	}
	r := t.result(v)
	if r.record(x) {
		r.backward = func(g *tensor.Tensor) { x.passGrad(g.Reshape(x.value.Shape()...)) }
	}
	return r
}

// Transpose returns a view of x with dimensions d0 and d1 swapped.
func Transpose(x *Var, d0, d1 int) *Var {
	t := tapeOf("Transpose", x)
	r := t.result(x.value.Transpose(d0, d1))
	if r.record(x) {
		r.backward = func(g *tensor.Tensor) { x.accumulate(g.Transpose(d0, d1)) }
	}
	return r
}

// Permute returns a view of x whose dimension i is x's dimension dims[i].
func Permute(x *Var, dims ...int) *Var {
	t := tapeOf("Permute", x)
	r := t.result(x.value.Permute(dims...))
	if r.record(x) {
		inv := make([]int, len(dims))
		for i, d := range dims {
			if d < 0 {
				d += len(dims)
			}
			inv[d] = i
		}
		r.backward = func(g *tensor.Tensor) { x.accumulate(g.Permute(inv...)) }
	}
	return r
}

// Slice returns a view of the elements start <= i < end along dimension dim.
func Slice(x *Var, dim, start, end int) *Var {
	t := tapeOf("Slice", x)
	r := t.result(x.value.Slice(dim, start, end))
	if r.record(x) {
		r.backward = func(g *tensor.Tensor) {
			gx, fresh := x.gradBuf()
			if fresh {
				gx.Fill(0)
			}
			tensor.AddInto(gx.Slice(dim, start, end), g)
		}
	}
	return r
}

// Concat joins xs along dimension dim; all other dimensions must agree.
func Concat(dim int, xs ...*Var) *Var {
	if len(xs) == 0 {
		panic("autograd.Concat: no inputs")
	}
	t := tapeOf("Concat", xs...)
	first := xs[0].value.Shape()
	if dim < 0 {
		dim += len(first)
	}
	if dim < 0 || dim >= len(first) {
		panic(fmt.Sprintf("autograd.Concat: dimension %d out of range for shape %v", dim, first))
	}
	shape := append([]int(nil), first...)
	shape[dim] = 0
	for _, x := range xs {
		s := x.value.Shape()
		ok := len(s) == len(first)
		for i := 0; ok && i < len(s); i++ {
			ok = i == dim || s[i] == first[i]
		}
		if !ok {
			panic(fmt.Sprintf("autograd.Concat: shape %v does not fit %v along dimension %d", s, first, dim))
		}
		shape[dim] += s[dim]
	}
	out := t.alloc(shape...)
	off := 0
	for _, x := range xs {
		n := x.value.Len(dim)
		out.Slice(dim, off, off+n).CopyFrom(x.value)
		off += n
	}
	r := t.result(out)
	if r.record(xs...) {
		r.backward = func(g *tensor.Tensor) {
			off := 0
			for _, x := range xs {
				n := x.value.Len(dim)
				if x.requiresGrad {
					x.accumulate(g.Slice(dim, off, off+n))
				}
				off += n
			}
		}
	}
	return r
}

// Expand returns x broadcast to shape (a view); its gradient sums over the
// expanded dimensions.
func Expand(x *Var, shape ...int) *Var {
	t := tapeOf("Expand", x)
	r := t.result(x.value.Expand(shape...))
	if r.record(x) {
		r.backward = func(g *tensor.Tensor) { x.accumulateReduced(g, true) }
	}
	return r
}

// Contiguous returns x laid out contiguously: x itself if it already is,
// else a copy.
func Contiguous(x *Var) *Var {
	if x.value.IsContiguous() {
		return x
	}
	t := tapeOf("Contiguous", x)
	r := t.result(contig(t, x.value))
	if r.record(x) {
		r.backward = func(g *tensor.Tensor) { x.passGrad(g) }
	}
	return r
}
