package align

import (
	"math/rand/v2"
	"slices"

	"github.com/kiln-ml/kiln/models/gpt"
)

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
	s := m.NewBatchSession(R, longest+tokens-1) // the last sampled token is not fed
	if longest > 1 {
		pre := m.NewBatchSession(len(uniq), longest-1)
		ids, pos := make([]int, len(uniq)), make([]int, len(uniq))
		for t := range longest - 1 {
			for u, p := range uniq {
				// A row whose prompt is done re-feeds position len-2,
				// which it computes again to the same values.
				at := min(t, max(len(p)-2, 0))
				ids[u], pos[u] = p[at], at
			}
			pre.Next(ids, pos)
		}
		for r, p := range prompts {
			s.CopyPrefix(r, pre, of[r], len(p)-1)
		}
	}
	out := make([][]int, R)
	ids, pos := make([]int, R), make([]int, R)
	V := m.Config.Vocab
	probs := make([]float32, V)
	sampling := gpt.Sampling{Temperature: temp}
	for r, p := range prompts {
		ids[r], pos[r] = p[len(p)-1], len(p)-1
		out[r] = make([]int, 0, tokens)
	}
	for range tokens {
		logits := s.Next(ids, pos)
		for r := range prompts {
			id := sampling.Pick(logits[r*V:(r+1)*V], probs, rngs[r])
			out[r] = append(out[r], id)
			ids[r] = id
			pos[r]++
		}
	}
	return out
}
