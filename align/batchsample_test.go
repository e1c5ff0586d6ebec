package align

import (
	"math/rand/v2"
	"testing"

	"github.com/kiln-ml/kiln/models/gpt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBatchSessionMatchesSession: the batched incremental forward gives the
// logits of gpt.Session row by row, for tied and untied heads, with and
// without biases.
func TestBatchSessionMatchesSession(t *testing.T) {
	for _, cfg := range []gpt.Config{
		tinyConfig,
		{Vocab: 40, Context: 16, Dim: 24, Layers: 2, Heads: 3, Untied: true, NoBias: true, MLP: 40},
	} {
		m, err := gpt.New(cfg, rand.New(rand.NewPCG(3, 4)))
		require.NoError(t, err)
		rng := rand.New(rand.NewPCG(5, 6))
		const rows, steps = 5, 12
		streams := make([][]int, rows)
		for r := range streams {
			for range steps {
				streams[r] = append(streams[r], rng.IntN(cfg.Vocab))
			}
		}
		b := m.NewBatchSession(rows, steps)
		sessions := make([]*gpt.Session, rows)
		for r := range sessions {
			sessions[r] = m.NewSession()
		}
		ids, pos := make([]int, rows), make([]int, rows)
		for step := range steps {
			for r := range ids {
				ids[r], pos[r] = streams[r][step], step
			}
			got := b.Next(ids, pos)
			for r, s := range sessions {
				want := s.Next(ids[r])
				assert.InDeltaSlice(t, want, got[r*cfg.Vocab:(r+1)*cfg.Vocab], 1e-4, "config %+v, row %d, step %d", cfg, r, step)
			}
		}
		pos[0] = steps
		assert.Panics(t, func() { b.Next(ids, pos) }, "past the cache")
	}
}

// TestSampleRows: prompts of different lengths, some shared, each get
// their completion, the same for the same generators whatever the batch
// they are drawn in.
func TestSampleRows(t *testing.T) {
	m := tinyModel(t, 1)
	prompts := [][]int{ids("The sky"), ids("a"), ids("Light is made of"), ids("The sky"), ids("ab")}
	gens := func() []*rand.Rand {
		out := make([]*rand.Rand, len(prompts))
		for i := range out {
			out[i] = rand.New(rand.NewPCG(uint64(i), 9))
		}
		return out
	}
	all := sampleRows(m, prompts, 7, 1, gens())
	require.Len(t, all, 5)
	for i, c := range all {
		assert.Len(t, c, 7)
		alone := sampleRows(m, prompts[i:i+1], 7, 1, gens()[i:i+1])
		assert.Equal(t, alone[0], c, "prompt %d sampled alone", i)
	}
	// A temperature near 0 picks the most likely token, as gpt's greedy
	// decoding does.
	greedy, err := m.Generate(prompts[2], gpt.GenerateConfig{MaxTokens: 7, Sampling: gpt.Sampling{Greedy: true}})
	require.NoError(t, err)
	assert.Equal(t, greedy, sampleRows(m, prompts[2:3], 7, 1e-4, gens()[:1])[0])
}
