package align

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/kiln-ml/kiln/autograd"
	"github.com/kiln-ml/kiln/kernels"
	"github.com/kiln-ml/kiln/models/gpt"
)

// batchSession runs a gpt.Model incrementally on many rows at once, one
// token per row per call, with a key/value cache per row: the same
// computation as gpt.Session (evaluation mode), but with the linear layers
// as matrix products over all rows, which is several times faster than one
// session per row on small models. Each row has its own position.
type batchSession struct {
	m      *gpt.Model
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

func newBatchSession(m *gpt.Model, rows, maxLen int) *batchSession {
	c := m.Config
	if rows <= 0 || maxLen <= 0 || maxLen > c.Context {
		panic(fmt.Sprintf("align.newBatchSession: %d rows of %d positions for a model of context %d", rows, maxLen, c.Context))
	}
	s := &batchSession{
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

// next feeds ids[r] to row r at position pos[r], attending to the row's
// cached positions before it, and returns the logits [rows, vocab] of the
// next tokens; the slice is reused.
func (s *batchSession) next(ids, pos []int) []float32 {
	m, c := s.m, s.m.Config
	if len(ids) != s.rows || len(pos) != s.rows {
		panic(fmt.Sprintf("align.batchSession.next: %d ids and %d positions for %d rows", len(ids), len(pos), s.rows))
	}
	C, H, R, L := c.Dim, c.Heads, s.rows, s.maxLen
	D := C / H
	tok, posE := values32(m.Tok.Weight), values32(m.Pos.Weight)
	for r, id := range ids {
		if id < 0 || id >= c.Vocab {
			panic(fmt.Sprintf("align.batchSession.next: token %d outside the vocabulary [0, %d)", id, c.Vocab))
		}
		if pos[r] < 0 || pos[r] >= L {
			panic(fmt.Sprintf("align.batchSession.next: position %d outside the %d cached positions", pos[r], L))
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

// copyPrefix copies the first n cached positions of row src of from into
// row dst of s.
func (s *batchSession) copyPrefix(dst int, from *batchSession, src, n int) {
	C := s.m.Config.Dim
	for l := range s.k {
		copy(s.k[l][dst*s.maxLen*C:dst*s.maxLen*C+n*C], from.k[l][src*from.maxLen*C:src*from.maxLen*C+n*C])
		copy(s.v[l][dst*s.maxLen*C:dst*s.maxLen*C+n*C], from.v[l][src*from.maxLen*C:src*from.maxLen*C+n*C])
	}
}

// sampleRows continues each prompt by tokens tokens, sampling row r with
// its own generator rngs[r] at temperature temp (0 means 1), all rows in
// one batch. Prompts must be non-empty and fit the context with the
// completion. Rows that share a prompt (the same slice, or equal tokens)
// read it once: every prompt but its last token goes through the model in
// a prefill batch of distinct prompts whose caches are then copied to
// their rows, so that the sampling batch runs exactly tokens steps.
func sampleRows(m *gpt.Model, prompts [][]int, tokens int, temp float32, rngs []*rand.Rand) [][]int {
	R := len(prompts)
	if temp == 0 {
		temp = 1
	}
	// Distinct prompts, in order of first use.
	var uniq [][]int
	of := make([]int, R)
	for r, p := range prompts {
		of[r] = -1
		for u, q := range uniq {
			if slices.Equal(p, q) {
				of[r] = u
				break
			}
		}
		if of[r] < 0 {
			of[r] = len(uniq)
			uniq = append(uniq, p)
		}
	}
	longest := 0
	for _, p := range uniq {
		longest = max(longest, len(p))
	}
	s := newBatchSession(m, R, longest+tokens-1) // the last sampled token is not fed
	if longest > 1 {
		pre := newBatchSession(m, len(uniq), longest-1)
		ids, pos := make([]int, len(uniq)), make([]int, len(uniq))
		for t := range longest - 1 {
			for u, p := range uniq {
				// A row whose prompt is done re-feeds position len-2,
				// which it computes again to the same values.
				at := min(t, max(len(p)-2, 0))
				ids[u], pos[u] = p[at], at
			}
			pre.next(ids, pos)
		}
		for r, p := range prompts {
			s.copyPrefix(r, pre, of[r], len(p)-1)
		}
	}
	out := make([][]int, R)
	ids, pos := make([]int, R), make([]int, R)
	V := m.Config.Vocab
	probs := make([]float32, R*V)
	for r, p := range prompts {
		ids[r], pos[r] = p[len(p)-1], len(p)-1
		out[r] = make([]int, 0, tokens)
	}
	for range tokens {
		logits := s.next(ids, pos)
		kernels.Scale(probs, logits, 1/temp)
		kernels.SoftmaxRows(probs, probs, R, V)
		for r := range prompts {
			id := draw(probs[r*V:(r+1)*V], rngs[r])
			out[r] = append(out[r], id)
			ids[r] = id
			pos[r]++
		}
	}
	return out
}

// draw picks an index with probability probs[i] (which sum to about 1).
func draw(probs []float32, rng *rand.Rand) int {
	var total float64
	for _, p := range probs {
		total += float64(p)
	}
	u := rng.Float64() * total
	var acc float64
	last := 0
	for i, p := range probs {
		if p == 0 {
			continue
		}
		acc += float64(p)
		last = i
		if u < acc {
			return i
		}
	}
	return last
}
