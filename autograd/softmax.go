package autograd

import (
	"fmt"
	"math"

	"github.com/kiln-ml/kiln/kernels"
	"github.com/kiln-ml/kiln/tensor"
)

func rowsCols(op string, x *tensor.Tensor) (rows, cols int) {
	if x.Dim() == 0 {
		panic(fmt.Sprintf("autograd.%s: needs at least 1 dimension, have a scalar", op))
	}
	cols = x.Len(-1)
	return x.Size() / max(cols, 1), cols
}

// Softmax returns the softmax over the last dimension.
func Softmax(x *Var) *Var {
	t := tapeOf("Softmax", x)
	xv := contig(t, x.value)
	rows, cols := rowsCols("Softmax", xv)
	out := t.alloc(xv.Shape()...)
	kernels.SoftmaxRows(out.Data(), xv.Data(), rows, cols)
	r := t.result(out)
	if r.record(x) {
		r.backward = func(g *tensor.Tensor) {
			x.accumulateFn(t, func(dx []float32) { kernels.SoftmaxRowsBackward(dx, out.Data(), g.Data(), rows, cols) })
		}
	}
	return r
}

// LogSoftmax returns the log-softmax over the last dimension.
func LogSoftmax(x *Var) *Var {
	t := tapeOf("LogSoftmax", x)
	xv := contig(t, x.value)
	rows, cols := rowsCols("LogSoftmax", xv)
	out := t.alloc(xv.Shape()...)
	kernels.LogSoftmaxRows(out.Data(), xv.Data(), rows, cols)
	r := t.result(out)
	if r.record(x) {
		r.backward = func(g *tensor.Tensor) {
			x.accumulateFn(t, func(dx []float32) { kernels.LogSoftmaxRowsBackward(dx, out.Data(), g.Data(), rows, cols) })
		}
	}
	return r
}

// CausalMask sets the entries of x [.., T, S] above the causal diagonal to
// -Inf: query i (of the last T positions of S) sees keys j <= i + S - T.
// Their gradient is zero.
func CausalMask(x *Var) *Var {
	t := tapeOf("CausalMask", x)
	if x.value.Dim() < 2 {
		panic(fmt.Sprintf("autograd.CausalMask: needs [.., T, S], have shape %v", x.value.Shape()))
	}
	xv := contig(t, x.value)
	T, S := xv.Len(-2), xv.Len(-1)
	if T > S {
		panic(fmt.Sprintf("autograd.CausalMask: more queries than keys in shape %v", xv.Shape()))
	}
	out := t.alloc(xv.Shape()...)
	od := out.Data()
	copy(od, xv.Data())
	inf := float32(math.Inf(-1))
	mask := func(d []float32, v float32) {
		for b := 0; b < len(d); b += T * S {
			for i := 0; i < T; i++ {
				row := d[b+i*S : b+(i+1)*S]
				for j := i + S - T + 1; j < S; j++ {
					row[j] = v
				}
			}
		}
	}
	mask(od, inf)
	r := t.result(out)
	if r.record(x) {
		r.backward = func(g *tensor.Tensor) {
			x.accumulateFn(t, func(dx []float32) {
				copy(dx, g.Data())
				mask(dx, 0)
			})
		}
	}
	return r
}
