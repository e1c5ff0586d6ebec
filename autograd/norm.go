package autograd

import (
	"fmt"

	"github.com/kiln-ml/kiln/kernels"
	"github.com/kiln-ml/kiln/tensor"
)

func checkNormWeight(op string, x *tensor.Tensor, w *Var, name string) []float32 {
	if w == nil {
		return nil
	}
	if w.value.Dim() != 1 || w.value.Len(0) != x.Len(-1) {
		panic(fmt.Sprintf("autograd.%s: %s of shape %v does not fit input %v (want [%d])", op, name, w.value.Shape(), x.Shape(), x.Len(-1)))
	}
	return w.value.Contiguous().Data()
}

// LayerNorm normalises x over its last dimension to zero mean and unit
// variance, then applies gamma and beta (either may be nil).
func LayerNorm(x, gamma, beta *Var, eps float32) *Var {
	t := tapeOf("LayerNorm", x, gamma, beta)
	xv := contig(t, x.value)
	rows, cols := rowsCols("LayerNorm", xv)
	gd := checkNormWeight("LayerNorm", xv, gamma, "gamma")
	bd := checkNormWeight("LayerNorm", xv, beta, "beta")
	out := t.alloc(xv.Shape()...)
	stats := t.alloc(2 * rows).Storage()
	mean, rstd := stats[:rows], stats[rows:]
	kernels.LayerNorm(out.Data(), mean, rstd, xv.Data(), gd, bd, rows, cols, eps)
	r := t.result(out)
	if r.record(x, gamma, beta) {
		r.backward = func(g *tensor.Tensor) {
			var dgamma, dbeta []float32
			if gamma != nil && gamma.requiresGrad {
				dgamma = zeroedGrad(gamma)
			}
			if beta != nil && beta.requiresGrad {
				dbeta = zeroedGrad(beta)
			}
			if x.requiresGrad {
				x.accumulateFn(t, func(dx []float32) {
					kernels.LayerNormBackward(dx, dgamma, dbeta, g.Data(), xv.Data(), mean, rstd, gd, rows, cols)
				})
				return
			}
			scratch := t.alloc(rows * cols).Storage()
			kernels.LayerNormBackward(scratch, dgamma, dbeta, g.Data(), xv.Data(), mean, rstd, gd, rows, cols)
		}
	}
	return r
}

// zeroedGrad returns v's gradient storage for accumulation, zeroed if fresh.
func zeroedGrad(v *Var) []float32 {
	g, fresh := v.gradBuf()
	d := g.Data()
	if fresh {
		clear(d)
	}
	return d
}

// RMSNorm scales x by the reciprocal root mean square of its last dimension
// and by gamma (may be nil).
func RMSNorm(x, gamma *Var, eps float32) *Var {
	t := tapeOf("RMSNorm", x, gamma)
	xv := contig(t, x.value)
	rows, cols := rowsCols("RMSNorm", xv)
	gd := checkNormWeight("RMSNorm", xv, gamma, "gamma")
	out := t.alloc(xv.Shape()...)
	rstd := t.alloc(rows).Storage()
	kernels.RMSNorm(out.Data(), rstd, xv.Data(), gd, rows, cols, eps)
	r := t.result(out)
	if r.record(x, gamma) {
		r.backward = func(g *tensor.Tensor) {
			var dgamma []float32
			if gamma != nil && gamma.requiresGrad {
				dgamma = zeroedGrad(gamma)
			}
			if x.requiresGrad {
				x.accumulateFn(t, func(dx []float32) {
					kernels.RMSNormBackward(dx, dgamma, g.Data(), xv.Data(), rstd, gd, rows, cols)
				})
				return
			}
			scratch := t.alloc(rows * cols).Storage()
			kernels.RMSNormBackward(scratch, dgamma, g.Data(), xv.Data(), rstd, gd, rows, cols)
		}
	}
	return r
}
