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

// attnBlock is the number of query rows CausalAttention handles at once;
// scores of keys past a block's last query are skipped.
const attnBlock = 64

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
			// Query block [r0, r1) sees keys [0, r1): the scores above the
			// block diagonal are never computed.
			for r0 := 0; r0 < T; r0 += attnBlock {
				r1 := min(r0+attnBlock, T)
				pb := p[r0*T:]
				kernels.Sgemm(false, true, r1-r0, r1, D, scale, Q.at(b, h)[r0*Q.ld:], Q.ld, K.at(b, h), K.ld, 0, pb, T)
				for i := r0; i < r1; i++ {
					row := p[i*T : (i+1)*T]
					kernels.SoftmaxRows(row[:i+1], row[:i+1], 1, i+1)
					clear(row[i+1:])
				}
				kernels.Sgemm(false, false, r1-r0, D, r1, 1, pb, T, V.at(b, h), V.ld, 0, O.at(b, h)[r0*O.ld:], O.ld)
			}
		}
	})
	r := t.result(out)
	if r.record(q, k, v) {
		r.backward = func(g *tensor.Tensor) {
			G := headsOf(g)
			// Every gradient is accumulated block by block: a fresh buffer
			// is zeroed first (per head, below). Aliased inputs share one
			// buffer, which is then zeroed once.
			type target struct {
				m     headMats
				fresh bool
				on    bool
			}
			grads := func(x *Var) target {
				if !x.requiresGrad {
					return target{}
				}
				buf, fresh := x.gradBuf()
				return target{headsOf(buf), fresh, true}
			}
			dQ, dK, dV := grads(q), grads(k), grads(v)
			scratch := t.alloc(B * H * T * T).Storage()
			kernels.Parallel(B*H, 1, func(lo, hi int) {
				for bh := lo; bh < hi; bh++ {
					b, h := bh/H, bh%H
					for _, d := range []target{dQ, dK, dV} {
						if d.on && d.fresh {
							m := d.m.at(b, h)
							for i := 0; i < T; i++ {
								clear(m[i*d.m.ld : i*d.m.ld+D])
							}
						}
					}
					p := probs[bh*T*T : (bh+1)*T*T]
					dp := scratch[bh*T*T : (bh+1)*T*T]
					for r0 := 0; r0 < T; r0 += attnBlock {
						r1 := min(r0+attnBlock, T)
						n := r1 - r0
						pb, dpb := p[r0*T:], dp[r0*T:]
						gb := G.at(b, h)[r0*G.ld:]
						if dV.on { // dV[0:r1] += P_blockᵀ·dO_block
							kernels.Sgemm(true, false, r1, D, n, 1, pb, T, gb, G.ld, 1, dV.m.at(b, h), dV.m.ld)
						}
						if !dQ.on && !dK.on {
							continue
						}
						// dP = dO·Vᵀ, then dS = softmax backward (masked part 0).
						kernels.Sgemm(false, true, n, r1, D, 1, gb, G.ld, V.at(b, h), V.ld, 0, dpb, T)
						for i := r0; i < r1; i++ {
							row := dp[i*T : (i+1)*T]
							kernels.SoftmaxRowsBackward(row[:i+1], p[i*T:i*T+i+1], row[:i+1], 1, i+1)
							clear(row[i+1 : r1])
						}
						if dQ.on { // dQ_block += dS·K·scale
							kernels.Sgemm(false, false, n, D, r1, scale, dpb, T, K.at(b, h), K.ld, 1, dQ.m.at(b, h)[r0*dQ.m.ld:], dQ.m.ld)
						}
						if dK.on { // dK[0:r1] += dSᵀ·Q_block·scale
							kernels.Sgemm(true, false, r1, D, n, scale, dpb, T, Q.at(b, h)[r0*Q.ld:], Q.ld, 1, dK.m.at(b, h), dK.m.ld)
						}
					}
				}
			})
		}
	}
	return r
}
