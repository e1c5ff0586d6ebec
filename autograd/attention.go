package autograd

import (
	"fmt"
	"slices"

	"github.com/kiln-ml/kiln/kernels"
	"github.com/kiln-ml/kiln/tensor"
)

// headMats describes the per-(batch, head) matrices of a [B, T, H, D] tensor
// whose last dimension is contiguous: matrix (b, h) starts at base(b, h) and
// its rows are ld apart.
type headMats struct {
	data       []float32
	off        int
	sb, sh, ld int
}

func headsOf(x *tensor.Tensor) headMats {
	st := x.Strides()
	return headMats{data: x.Storage(), off: x.Offset(), sb: st[0], sh: st[2], ld: st[1]}
}

func (m headMats) at(b, h int) []float32 { return m.data[m.off+b*m.sb+h*m.sh:] }

// CausalAttention returns softmax(q·kᵀ·scale with a causal mask)·v for q, k
// and v of shape [B, T, H, D] (batch, time, heads, head size), as one
// operation: each head's T×T attention matrix is computed with GEMMs and the
// masked softmax in place, without materialising transposes. Views whose
// last dimension is contiguous (slices of a fused QKV projection, say) are
// read in place. The result has shape [B, T, H, D], so reshaping it to
// [B, T, H*D] is free.
func CausalAttention(q, k, v *Var, scale float32) *Var {
	t := tapeOf("CausalAttention", q, k, v)
	qs := q.value.Shape()
	if len(qs) != 4 || !slices.Equal(qs, k.value.Shape()) || !slices.Equal(qs, v.value.Shape()) {
		panic(fmt.Sprintf("autograd.CausalAttention: q, k, v must share a shape [B, T, H, D]: %v, %v, %v", qs, k.value.Shape(), v.value.Shape()))
	}
	B, T, H, D := qs[0], qs[1], qs[2], qs[3]
	unit := func(x *tensor.Tensor) *tensor.Tensor {
		if x.Strides()[3] == 1 || D == 1 {
			return x
		}
		return contig(t, x)
	}
	qv, kv, vv := unit(q.value), unit(k.value), unit(v.value)
	Q, K, V := headsOf(qv), headsOf(kv), headsOf(vv)
	out := t.alloc(B, T, H, D)
	O := headsOf(out)
	probs := t.alloc(B * H * T * T).Storage()
	kernels.Parallel(B*H, 1, func(lo, hi int) {
		for bh := lo; bh < hi; bh++ {
			b, h := bh/H, bh%H
			p := probs[bh*T*T : (bh+1)*T*T]
			kernels.Sgemm(false, true, T, T, D, scale, Q.at(b, h), Q.ld, K.at(b, h), K.ld, 0, p, T)
			for i := 0; i < T; i++ {
				row := p[i*T : (i+1)*T]
				kernels.SoftmaxRows(row[:i+1], row[:i+1], 1, i+1)
				clear(row[i+1:])
			}
			kernels.Sgemm(false, false, T, D, T, 1, p, T, V.at(b, h), V.ld, 0, O.at(b, h), O.ld)
		}
	})
	r := t.result(out)
	if r.record(q, k, v) {
		r.backward = func(g *tensor.Tensor) {
			G := headsOf(g)
			grads := func(x *Var) (headMats, float32) {
				if !x.requiresGrad {
					return headMats{}, 0
				}
				buf, fresh := x.gradBuf()
				return headsOf(buf), beta(fresh)
			}
			dQ, bq := grads(q)
			dK, bk := grads(k)
			dV, bv := grads(v)
			scratch := t.alloc(B * H * T * T).Storage()
			kernels.Parallel(B*H, 1, func(lo, hi int) {
				for bh := lo; bh < hi; bh++ {
					b, h := bh/H, bh%H
					p := probs[bh*T*T : (bh+1)*T*T]
					dp := scratch[bh*T*T : (bh+1)*T*T]
					// Written in the order q, k, v, as the gradient buffers
					// were taken, so aliased inputs accumulate correctly.
					if q.requiresGrad || k.requiresGrad {
						// dP = dO·Vᵀ, then dS = softmax backward, masked part 0.
						kernels.Sgemm(false, true, T, T, D, 1, G.at(b, h), G.ld, V.at(b, h), V.ld, 0, dp, T)
						for i := 0; i < T; i++ {
							row := dp[i*T : (i+1)*T]
							kernels.SoftmaxRowsBackward(row[:i+1], p[i*T:i*T+i+1], row[:i+1], 1, i+1)
							clear(row[i+1:])
						}
						if q.requiresGrad { // dQ = dS·K·scale
							kernels.Sgemm(false, false, T, D, T, scale, dp, T, K.at(b, h), K.ld, bq, dQ.at(b, h), dQ.ld)
						}
						if k.requiresGrad { // dK = dSᵀ·Q·scale
							kernels.Sgemm(true, false, T, D, T, scale, dp, T, Q.at(b, h), Q.ld, bk, dK.at(b, h), dK.ld)
						}
					}
					if v.requiresGrad { // dV = Pᵀ·dO
						kernels.Sgemm(true, false, T, D, T, 1, p, T, G.at(b, h), G.ld, bv, dV.at(b, h), dV.ld)
					}
				}
			})
		}
	}
	return r
}
