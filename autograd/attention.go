package autograd

import (
	"fmt"
	"slices"

	"github.com/kiln-ml/kiln/kernels"
	"github.com/kiln-ml/kiln/tensor"
)

// headMats describes the per-(batch, head) matrices of a [B, T, H, D] layout
// whose last dimension is contiguous: matrix (b, h) starts at
// off + b*sb + h*sh and its rows are ld apart.
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

// attnBlock is the number of query rows attention handles at once; scores
// of keys past a block's last query are never computed.
const attnBlock = 64

// attnShape is the geometry of one attention call.
type attnShape struct{ B, T, H, D int }

// attnForward computes O = softmax(Q·Kᵀ·scale, causal)·V head by head and
// keeps the probabilities (B*H*T*T, row-major per head) for the backward.
func attnForward(s attnShape, Q, K, V, O headMats, probs []float32, scale float32) {
	T, H, D := s.T, s.H, s.D
	kernels.Parallel(s.B*H, 1, func(lo, hi int) {
		for bh := lo; bh < hi; bh++ {
			b, h := bh/H, bh%H
			p := probs[bh*T*T : (bh+1)*T*T]
			// Query block [r0, r1) sees keys [0, r1).
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
}

// attnGrad is where one input's gradient goes: on is false when the input
// needs none; a fresh buffer is zeroed head by head before accumulating.
type attnGrad struct {
	m         headMats
	fresh, on bool
}

// attnBackward accumulates the gradients of Q, K and V from G = dO.
// Aliased targets (the same buffer twice) are zeroed once, then accumulate.
func attnBackward(s attnShape, Q, K, V, G headMats, dQ, dK, dV attnGrad, probs, scratch []float32, scale float32) {
	T, H, D := s.T, s.H, s.D
	kernels.Parallel(s.B*H, 1, func(lo, hi int) {
		for bh := lo; bh < hi; bh++ {
			b, h := bh/H, bh%H
			for _, d := range [...]attnGrad{dQ, dK, dV} {
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

// CausalAttention returns softmax(q·kᵀ·scale with a causal mask)·v for q, k
// and v of shape [B, T, H, D] (batch, time, heads, head size), as one
// operation: per head, blocks of queries meet only the keys up to the block
// (the scores above the diagonal are never computed), with GEMMs on the
// inputs in place and no materialised transposes. Views whose last dimension
// is contiguous are read in place. The result has shape [B, T, H, D], so
// reshaping it to [B, T, H*D] is free.
func CausalAttention(q, k, v *Var, scale float32) *Var {
	t := tapeOf("CausalAttention", q, k, v)
	qs := q.value.Shape()
	if len(qs) != 4 || !slices.Equal(qs, k.value.Shape()) || !slices.Equal(qs, v.value.Shape()) {
		panic(fmt.Sprintf("autograd.CausalAttention: q, k, v must share a shape [B, T, H, D]: %v, %v, %v", qs, k.value.Shape(), v.value.Shape()))
	}
	s := attnShape{qs[0], qs[1], qs[2], qs[3]}
	unit := func(x *tensor.Tensor) *tensor.Tensor {
		if x.Strides()[3] == 1 || s.D == 1 {
			return x
		}
		return contig(t, x)
	}
	Q, K, V := headsOf(unit(q.value)), headsOf(unit(k.value)), headsOf(unit(v.value))
	out := t.alloc(s.B, s.T, s.H, s.D)
	probs := t.alloc(s.B * s.H * s.T * s.T).Storage()
	attnForward(s, Q, K, V, headsOf(out), probs, scale)
	r := t.result(out)
	if r.record(q, k, v) {
		r.backward = func(g *tensor.Tensor) {
			grad := func(x *Var) attnGrad {
				if !x.requiresGrad {
					return attnGrad{}
				}
				buf, fresh := x.gradBuf()
				return attnGrad{headsOf(buf), fresh, true}
			}
			dQ, dK, dV := grad(q), grad(k), grad(v)
			scratch := t.alloc(s.B * s.H * s.T * s.T).Storage()
			attnBackward(s, Q, K, V, headsOf(g), dQ, dK, dV, probs, scratch, scale)
		}
	}
	return r
}

// CausalSelfAttention is CausalAttention reading q, k and v straight from a
// fused projection qkv [B, T, 3*C] (queries, then keys, then values, each
// C = heads*D wide), and writing their gradients straight into qkv's
// gradient: no slicing, no copies. The result has shape [B, T, C].
func CausalSelfAttention(qkv *Var, heads int, scale float32) *Var {
	t := tapeOf("CausalSelfAttention", qkv)
	qs := qkv.value.Shape()
	if len(qs) != 3 || heads <= 0 || qs[2]%(3*heads) != 0 {
		panic(fmt.Sprintf("autograd.CausalSelfAttention: qkv of shape %v does not split into 3 x %d heads (want [B, T, 3*heads*D])", qs, heads))
	}
	x := contig(t, qkv.value)
	B, T, C := qs[0], qs[1], qs[2]/3
	s := attnShape{B, T, heads, C / heads}
	part := func(data []float32, off, i int) headMats {
		return headMats{data: data, off: off + i*C, sb: T * 3 * C, sh: s.D, ld: 3 * C}
	}
	Q, K, V := part(x.Storage(), x.Offset(), 0), part(x.Storage(), x.Offset(), 1), part(x.Storage(), x.Offset(), 2)
	out := t.alloc(B, T, C)
	O := headMats{data: out.Storage(), sb: T * C, sh: s.D, ld: C}
	probs := t.alloc(B * heads * T * T).Storage()
	attnForward(s, Q, K, V, O, probs, scale)
	r := t.result(out)
	if r.record(qkv) {
		r.backward = func(g *tensor.Tensor) {
			buf, fresh := qkv.gradBuf()
			d := buf.Data()
			dQ := attnGrad{part(d, 0, 0), fresh, true}
			dK := attnGrad{part(d, 0, 1), fresh, true}
			dV := attnGrad{part(d, 0, 2), fresh, true}
			G := headMats{data: g.Data(), sb: T * C, sh: s.D, ld: C}
			scratch := t.alloc(B * heads * T * T).Storage()
			attnBackward(s, Q, K, V, G, dQ, dK, dV, probs, scratch, scale)
		}
	}
	return r
}
