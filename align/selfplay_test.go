package align

import (
	"context"
	"strings"
	"testing"

	"github.com/kiln-ml/kiln/models/tokenizer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const corpusText = `Light is propagated from luminous Bodies in time, and spends about seven or eight
Minutes of an Hour in passing from the Sun to the Earth. This was observed first by Roemer,
and then by others, by means of the Eclipses of the Satellites of Jupiter. For these Eclipses,
when the Earth is between the Sun and Jupiter, happen about seven or eight Minutes sooner than
they ought to do by the Tables, and when the Earth is beyond the Sun they happen about seven or
eight Minutes later than they ought to do.`

func TestCorpusPrompts(t *testing.T) {
	ps, err := CorpusPrompts(corpusText, 20, 24, 1)
	require.NoError(t, err)
	require.Len(t, ps, 20)
	seen := map[string]bool{}
	for _, p := range ps {
		assert.False(t, seen[p], "duplicate prompt %q", p)
		seen[p] = true
		assert.True(t, strings.Contains(corpusText, p), p)
		assert.LessOrEqual(t, len(p), 24, p)
		assert.GreaterOrEqual(t, len(p), 12, p)
		assert.True(t, isSpace(p[len(p)-1]), "prompt %q should end at a word boundary", p)
		assert.False(t, isSpace(p[0]), "prompt %q should start a word", p)
	}
	again, err := CorpusPrompts(corpusText, 20, 24, 1)
	require.NoError(t, err)
	assert.Equal(t, ps, again, "same seed, same prompts")
	other, err := CorpusPrompts(corpusText, 20, 24, 2)
	require.NoError(t, err)
	assert.NotEqual(t, ps, other)

	_, err = CorpusPrompts(corpusText, 10000, 24, 1)
	assert.ErrorContains(t, err, "distinct places for prompts of 24 bytes, 10000 wanted")
	_, err = CorpusPrompts("short", 1, 24, 1)
	assert.ErrorContains(t, err, "only 0 distinct places")
	_, err = CorpusPrompts(corpusText, 0, 24, 1)
	assert.ErrorContains(t, err, "want n > 0")
}

func TestSampleGroupsDeterministic(t *testing.T) {
	m := tinyModel(t, 1)
	rule, err := ParseRule("avoid:e")
	require.NoError(t, err)
	prompts := []string{"The Sun ", "Light is ", "Rays of "}
	cfg := SampleConfig{Tokens: 10, Seed: 7, Rows: 4}
	g1, err := SampleGroups(context.Background(), m, tokenizer.ByteLevel{}, prompts, 3, rule, cfg)
	require.NoError(t, err)
	require.Len(t, g1, 3)
	for i, g := range g1 {
		assert.Equal(t, ids(prompts[i]), g.Prompt)
		require.Len(t, g.Completions, 3)
		for j, c := range g.Completions {
			assert.Len(t, c, 10)
			assert.Equal(t, tokenizer.ByteLevel{}.Decode(c), g.Texts[j])
			assert.Equal(t, rule.Score(g.Texts[j]), g.Scores[j])
		}
	}
	// Same seed, same samples, whatever the batch size.
	cfg.Rows = 64
	g2, err := SampleGroups(context.Background(), m, tokenizer.ByteLevel{}, prompts, 3, rule, cfg)
	require.NoError(t, err)
	assert.Equal(t, g1, g2)
	cfg.Seed = 8
	g3, err := SampleGroups(context.Background(), m, tokenizer.ByteLevel{}, prompts, 3, rule, cfg)
	require.NoError(t, err)
	assert.NotEqual(t, g1, g3)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = SampleGroups(ctx, m, tokenizer.ByteLevel{}, prompts, 3, rule, cfg)
	assert.ErrorIs(t, err, context.Canceled)
	_, err = Sample(context.Background(), m, [][]int{ids(strings.Repeat("x", 30))}, 1, SampleConfig{Tokens: 3})
	assert.ErrorContains(t, err, "prompt 0 has 30 tokens; with 3 completion tokens it exceeds the model's context of 32")
	_, err = Sample(context.Background(), m, [][]int{{}}, 1, SampleConfig{Tokens: 3})
	assert.ErrorContains(t, err, "prompt 0 is empty")
	_, err = Sample(context.Background(), m, [][]int{{1}}, 1, SampleConfig{Tokens: 0})
	assert.ErrorContains(t, err, "0 tokens per completion")
}

func TestPairsFromGroups(t *testing.T) {
	g := func(scores ...float64) Group {
		out := Group{Prompt: []int{1}, Scores: scores}
		for i := range scores {
			out.Completions = append(out.Completions, []int{100 + i})
		}
		return out
	}
	groups := []Group{
		g(0, 1, 0, 1),    // two pairs: 1 vs 0, 3 vs 2
		g(2, 2, 2),       // all tie: none
		g(-3, -1, -2),    // best -1 against worst -3; the middle is left
		g(1, 0, 0, 0, 0), // one good sample: one pair
	}
	pairs := PairsFromGroups(groups, 0)
	got := make([][2]int, len(pairs))
	for i, p := range pairs {
		got[i] = [2]int{p.Chosen[0], p.Rejected[0]}
		assert.Equal(t, 1.0, p.ChosenFraction)
	}
	assert.Equal(t, [][2]int{{101, 102}, {103, 100}, {101, 100}, {100, 104}}, got)
	for _, gr := range groups {
		for _, p := range gr.rankedPairs(0) {
			assert.Greater(t, gr.Scores[p[0]], gr.Scores[p[1]], "no ties, chosen better")
		}
	}
	assert.Len(t, PairsFromGroups(groups, 1), 3)

	lists := ListsFromGroups(groups)
	require.Len(t, lists, 3)
	assert.Equal(t, []float64{0, 1, 0, 1}, lists[0].Scores)
	assert.Equal(t, []float64{0, 2, 1}, lists[1].Scores)
}
