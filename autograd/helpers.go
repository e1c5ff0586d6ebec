package autograd

import (
	"github.com/kiln-ml/kiln/kernels"
	"github.com/kiln-ml/kiln/tensor"
)

// contig returns x if it is contiguous, else a contiguous copy owned by t.
func contig(t *Tape, x *tensor.Tensor) *tensor.Tensor {
	if x.IsContiguous() {
		return x
	}
	c := t.alloc(x.Shape()...)
	c.CopyFrom(x)
	return c
}

// accumulateFn adds the values fn writes into dst (length of v) to v's
// gradient: fn writes straight into the gradient when it is fresh, and into
// scratch owned by t otherwise.
func (v *Var) accumulateFn(t *Tape, fn func(dst []float32)) {
	g, fresh := v.gradBuf()
	gd := g.Data()
	if fresh {
		fn(gd)
		return
	}
	tmp := t.alloc(len(gd)).Storage()
	fn(tmp)
	kernels.Add(gd, gd, tmp)
}

// accumulateReduced adds g, summed down to v's shape over broadcast
// dimensions, into v's gradient. With adopt, v may take g's storage (see
// passGrad): only one consumer of g may do so.
func (v *Var) accumulateReduced(g *tensor.Tensor, adopt bool) {
	if tensor.SameShape(g, v.value) {
		if adopt {
			v.passGrad(g)
		} else {
			v.accumulate(g)
		}
		return
	}
	buf, fresh := v.gradBuf()
	if fresh {
		buf.Fill(0)
	}
	tensor.SumTo(buf, g)
}
