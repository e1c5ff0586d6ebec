package autograd

import (
	"fmt"

	"github.com/kiln-ml/kiln/kernels"
	"github.com/kiln-ml/kiln/tensor"
)

// MatMul returns the matrix product of a [.., m, k] and b [.., k, n]; b may
// be 2-D and shared by every matrix of a batched a. Transposed views
// (Transpose, Permute) of a and b are used without copying.
func MatMul(a, b *Var) *Var {
	t := tapeOf("MatMul", a, b)
	shape := tensor.MatMulShape("autograd.MatMul", a.value.Shape(), b.value.Shape())
	out := t.alloc(shape...)
	tensor.MatMulInto(out, a.value, b.value, 1, 0)
	r := t.result(out)
	if r.record(a, b) {
		r.backward = func(g *tensor.Tensor) {
			if a.requiresGrad {
				// dA = g · b^T
				ga, fresh := a.gradBuf()
				tensor.MatMulInto(ga, g, b.value.Transpose(-1, -2), 1, beta(fresh))
			}
			if b.requiresGrad {
				gb, fresh := b.gradBuf()
				if b.value.Dim() == 2 && a.value.Dim() > 2 {
					// b is shared over the batch: dB = A_flat^T · g_flat
					k := a.value.Len(-1)
					af := a.value.Reshape(-1, k)
					gf := g.Reshape(-1, g.Len(-1))
					tensor.MatMulInto(gb, af.T(), gf, 1, beta(fresh))
					return
				}
				tensor.MatMulInto(gb, a.value.Transpose(-1, -2), g, 1, beta(fresh))
			}
		}
	}
	return r
}

func beta(fresh bool) float32 {
	if fresh {
		return 0
	}
	return 1
}

// Linear returns x · w^T + b for x [.., in], weight w [out, in] (PyTorch's
// layout) and bias b [out] (b may be nil), as one operation.
func Linear(x, w, b *Var) *Var {
	t := tapeOf("Linear", x, w, b)
	xs, ws := x.value.Shape(), w.value.Shape()
	if len(ws) != 2 || len(xs) < 1 || xs[len(xs)-1] != ws[1] {
		panic(fmt.Sprintf("autograd.Linear: input %v does not fit weight %v (want [.., %d])", xs, ws, safeDim(ws, 1)))
	}
	if b != nil && (b.value.Dim() != 1 || b.value.Len(0) != ws[0]) {
		panic(fmt.Sprintf("autograd.Linear: bias %v does not fit weight %v (want [%d])", b.value.Shape(), ws, ws[0]))
	}
	in, outF := ws[1], ws[0]
	xv := contig(t, x.value)
	rows := xv.Size() / max(in, 1)
	wv := contig(t, w.value)
	oshape := append(append([]int(nil), xs[:len(xs)-1]...), outF)
	out := t.alloc(oshape...)
	od := out.Data()
	bet := float32(0)
	if b != nil {
		kernels.FillRows(od, contig(t, b.value).Data(), rows, outF)
		bet = 1
	}
	kernels.Sgemm(false, true, rows, outF, in, 1, xv.Data(), in, wv.Data(), in, bet, od, outF)
	r := t.result(out)
	if r.record(x, w, b) {
		r.backward = func(g *tensor.Tensor) {
			gd := g.Data()
			if x.requiresGrad {
				gx, fresh := x.gradBuf()
				kernels.Sgemm(false, false, rows, in, outF, 1, gd, outF, wv.Data(), in, beta(fresh), gx.Data(), in)
			}
			if w.requiresGrad {
				gw, fresh := w.gradBuf()
				kernels.Sgemm(true, false, outF, in, rows, 1, gd, outF, xv.Data(), in, beta(fresh), gw.Data(), in)
			}
			if b != nil && b.requiresGrad {
				gb, fresh := b.gradBuf()
				if fresh {
					gb.Fill(0)
				}
				tensor.SumTo(gb, g)
			}
		}
	}
	return r
}

func safeDim(s []int, i int) int {
	if i < len(s) {
		return s[i]
	}
	return -1
}
