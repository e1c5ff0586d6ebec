package gpt

import (
	"fmt"
	"math"

	"github.com/kiln-ml/kiln/autograd"
	"github.com/kiln-ml/kiln/kernels"
)

// BatchSession runs the model incrementally on many rows at once, one token
// per row per call, with a key/value cache per row: the linear layers run as
// matrix products over all rows, several times faster than one Session per
// row on small models. Each row has its own position. Dropout is off.
type BatchSession struct {
	m      *Model
	rows   int
	maxLen int
	k, v   [][]float32 // per layer [rows, maxLen, dim]
	x, h   []float32   // [rows, dim]
	qkv    []float32   // [rows, 3*dim]
	att    []float32   // [rows, dim]
	scores []float32   // [rows, maxLen]
	hidden []float32   // [rows, mlp]
	logits []float32   // [rows, vocab]
	mean   []float32   // [rows]
	rstd   []float32   // [rows]
}

// NewBatchSession returns a session of rows rows, each caching up to maxLen
// positions (at most the context length).
func (m *Model) NewBatchSession(rows, maxLen int) *BatchSession {
	c := m.Config
	if rows <= 0 || maxLen <= 0 || maxLen > c.Context {
		panic(fmt.Sprintf("gpt.NewBatchSession: %d rows of %d positions for a model of context %d", rows, maxLen, c.Context))
	}
	s := &BatchSession{
		m: m, rows: rows, maxLen: maxLen,
		x: make([]float32, rows*c.Dim), h: make([]float32, rows*c.Dim), qkv: make([]float32, rows*3*c.Dim),
		att: make([]float32, rows*c.Dim), scores: make([]float32, rows*maxLen), hidden: make([]float32, rows*c.Hidden()),
		logits: make([]float32, rows*c.Vocab), mean: make([]float32, rows), rstd: make([]float32, rows),
	}
	for range c.Layers {
		s.k = append(s.k, make([]float32, rows*maxLen*c.Dim))
		s.v = append(s.v, make([]float32, rows*maxLen*c.Dim))
	}
	return s
}

func values32(v *autograd.Var) []float32 {
	if v == nil {
		return nil
	}
	return v.Value().Data()
}

// linearRows computes out = in·Wᵀ + b for rows of in [rows, len(in)/rows]
// and W [outDim, inDim].
func linearRows(out, in []float32, rows int, w, b *autograd.Var) {
	outDim, inDim := len(out)/rows, len(in)/rows
	kernels.Sgemm(false, true, rows, outDim, inDim, 1, in, inDim, values32(w), inDim, 0, out, outDim)
	if b != nil {
		bias := values32(b)
		for r := range rows {
			kernels.Add(out[r*outDim:(r+1)*outDim], out[r*outDim:(r+1)*outDim], bias)
		}
	}
}

// attnGrain is the number of rows per parallel block of attention.
const attnGrain = 4

// Next feeds ids[r] to row r at position pos[r], attending to the row's
// cached positions before it, and returns the logits [rows, vocab] of the
// next tokens; the slice is reused.
func (s *BatchSession) Next(ids, pos []int) []float32 {
	m, c := s.m, s.m.Config
	if len(ids) != s.rows || len(pos) != s.rows {
		panic(fmt.Sprintf("gpt.BatchSession.Next: %d ids and %d positions for %d rows", len(ids), len(pos), s.rows))
	}
	C, H, R, L := c.Dim, c.Heads, s.rows, s.maxLen
	D := C / H
	tok, posE := values32(m.Tok.Weight), values32(m.Pos.Weight)
	for r, id := range ids {
		if id < 0 || id >= c.Vocab {
			panic(fmt.Sprintf("gpt.BatchSession.Next: token %d outside the vocabulary [0, %d)", id, c.Vocab))
		}
		if pos[r] < 0 || pos[r] >= L {
			panic(fmt.Sprintf("gpt.BatchSession.Next: position %d outside the %d cached positions", pos[r], L))
		}
		kernels.Add(s.x[r*C:(r+1)*C], tok[id*C:(id+1)*C], posE[pos[r]*C:(pos[r]+1)*C])
	}
	scale := float32(1 / math.Sqrt(float64(D)))
	for l, b := range m.Blocks {
		kernels.LayerNorm(s.h, s.mean, s.rstd, s.x, values32(b.LN1.Weight), values32(b.LN1.Bias), R, C, b.LN1.Eps)
		linearRows(s.qkv, s.h, R, b.Attn.QKV.Weight, b.Attn.QKV.Bias)
		kc, vc := s.k[l], s.v[l]
		kernels.Parallel(R, attnGrain, func(lo, hi int) {
			for r := lo; r < hi; r++ {
				qkv := s.qkv[r*3*C : (r+1)*3*C]
				kr, vr := kc[r*L*C:(r+1)*L*C], vc[r*L*C:(r+1)*L*C]
				p := pos[r]
				n := p + 1
				copy(kr[p*C:(p+1)*C], qkv[C:2*C])
				copy(vr[p*C:(p+1)*C], qkv[2*C:])
				sc := s.scores[r*L : r*L+n]
				for h := 0; h < H; h++ {
					kernels.Sgemm(false, true, 1, n, D, scale, qkv[h*D:(h+1)*D], D, kr[h*D:], C, 0, sc, n)
					kernels.SoftmaxRows(sc, sc, 1, n)
					kernels.Sgemm(false, false, 1, D, n, 1, sc, n, vr[h*D:], C, 0, s.att[r*C+h*D:r*C+(h+1)*D], D)
				}
			}
		})
		linearRows(s.h, s.att, R, b.Attn.Proj.Weight, b.Attn.Proj.Bias)
		kernels.Add(s.x, s.x, s.h)
		kernels.LayerNorm(s.h, s.mean, s.rstd, s.x, values32(b.LN2.Weight), values32(b.LN2.Bias), R, C, b.LN2.Eps)
		linearRows(s.hidden, s.h, R, b.MLP.FC.Weight, b.MLP.FC.Bias)
		kernels.Gelu(s.hidden, s.hidden)
		linearRows(s.h, s.hidden, R, b.MLP.Proj.Weight, b.MLP.Proj.Bias)
		kernels.Add(s.x, s.x, s.h)
	}
	kernels.LayerNorm(s.h, s.mean, s.rstd, s.x, values32(m.LNF.Weight), values32(m.LNF.Bias), R, C, m.LNF.Eps)
	w := m.Tok.Weight
	if m.Head != nil {
		w = m.Head.Weight
	}
	kernels.Sgemm(false, true, R, c.Vocab, C, 1, s.h, C, values32(w), C, 0, s.logits, c.Vocab)
	return s.logits
}

// CopyPrefix copies the first n cached positions of row src of from into
// row dst of s.
func (s *BatchSession) CopyPrefix(dst int, from *BatchSession, src, n int) {
	C := s.m.Config.Dim
	for l := range s.k {
		copy(s.k[l][dst*s.maxLen*C:dst*s.maxLen*C+n*C], from.k[l][src*from.maxLen*C:src*from.maxLen*C+n*C])
		copy(s.v[l][dst*s.maxLen*C:dst*s.maxLen*C+n*C], from.v[l][src*from.maxLen*C:src*from.maxLen*C+n*C])
	}
}
