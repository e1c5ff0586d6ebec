package align

import (
	"strings"
	"testing"

	"github.com/kiln-ml/kiln/models/gpt"
	"github.com/kiln-ml/kiln/models/tokenizer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func ids(s string) []int { return tokenizer.ByteLevel{}.Encode(s) }

func TestTokenizePairs(t *testing.T) {
	pairs := []Pair{
		{Prompt: "abc", Chosen: "de", Rejected: "f\n", Line: 1},
		{Prompt: "abc", Chosen: "0123456789", Rejected: "x", Line: 2}, // chosen cut to 6
		{Prompt: "123456789", Chosen: "a", Rejected: "b", Line: 3},    // prompt fills 8+1 tokens
		{Prompt: "12345678", Chosen: "ab", Rejected: "cd", Line: 4},   // room for one token
	}
	cfg := TokenizeConfig{Context: 8, EOS: ids("\n"), Vocab: 256}
	out, rep, err := TokenizePairs(pairs, tokenizer.ByteLevel{}, cfg)
	require.NoError(t, err)
	require.Len(t, out, 3)
	assert.Equal(t, ids("abc"), out[0].Prompt)
	assert.Equal(t, ids("de\n"), out[0].Chosen)
	assert.Equal(t, ids("f\n"), out[0].Rejected, "EOS is not doubled")
	assert.Equal(t, ids("012345"), out[1].Chosen)
	assert.Equal(t, ids("x\n"), out[1].Rejected)
	assert.Equal(t, ids("a"), out[2].Chosen)
	assert.Equal(t, 4, out[2].Line)
	assert.Equal(t, []int{3}, rep.Dropped)
	assert.Equal(t, 2, rep.Truncated)
	assert.Equal(t, 3, rep.Kept())
	assert.Contains(t, rep.String(), "lines 3")

	// Every row fits the context once shifted.
	b := NewBatch(cfg.Context)
	b.FillPairs(out)
	assert.LessOrEqual(t, b.T, cfg.Context)
}

func TestTokenizeErrors(t *testing.T) {
	long := []Pair{{Prompt: strings.Repeat("p", 40), Chosen: "a", Rejected: "b", Line: 1}}
	_, rep, err := TokenizePairs(long, tokenizer.ByteLevel{}, TokenizeConfig{Context: 32})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "leaving no room for a completion")
	assert.Equal(t, []int{1}, rep.Dropped)

	ok := []Pair{{Prompt: "p", Chosen: "a", Rejected: "b"}}
	_, _, err = TokenizePairs(ok, tokenizer.ByteLevel{}, TokenizeConfig{})
	assert.ErrorContains(t, err, "context 0 must be positive")
	_, _, err = TokenizePairs(ok, tokenizer.ByteLevel{}, TokenizeConfig{Context: 8, Vocab: 100})
	assert.ErrorContains(t, err, "256 tokens, the model only 100")
	_, _, err = TokenizePairs(ok, tokenizer.ByteLevel{}, TokenizeConfig{Context: 8, EOS: []int{300}})
	assert.ErrorContains(t, err, "EOS id 300")
	_, _, err = TokenizePairs(ok, nil, TokenizeConfig{Context: 8})
	assert.ErrorContains(t, err, "no tokenizer")
}

func TestTokenizeUnpairedAndLists(t *testing.T) {
	items := []Unpaired{{Prompt: "ab", Completion: "cdefgh", Desirable: true, Line: 1}, {Prompt: "abcdefghi", Completion: "x", Line: 2}}
	u, rep, err := TokenizeUnpaired(items, tokenizer.ByteLevel{}, TokenizeConfig{Context: 4})
	require.NoError(t, err)
	require.Len(t, u, 1)
	assert.Equal(t, UnpairedTokens{Prompt: ids("ab"), Completion: ids("cde"), Desirable: true, Line: 1}, u[0])
	assert.Equal(t, Report{Examples: 2, Dropped: []int{2}, Truncated: 1}, rep)

	lists := []List{
		{Prompt: "ab", Completions: []string{"c", "defg"}, Scores: []float64{1, 2}, Line: 1},
		{Prompt: "abcde", Completions: []string{"c", "d"}, Scores: []float64{1, 2}, Line: 2},
	}
	l, rep, err := TokenizeLists(lists, tokenizer.ByteLevel{}, TokenizeConfig{Context: 4})
	require.NoError(t, err)
	require.Len(t, l, 1)
	assert.Equal(t, [][]int{ids("c"), ids("def")}, l[0].Completions)
	assert.Equal(t, Report{Examples: 2, Dropped: []int{2}, Truncated: 1}, rep)
}

func TestBatchLayout(t *testing.T) {
	pairs := []PairTokens{
		{Prompt: []int{1, 2}, Chosen: []int{3}, Rejected: []int{4, 5, 6}},
		{Prompt: []int{7}, Chosen: []int{8, 9}, Rejected: []int{10}},
	}
	b := NewBatch(16)
	b.FillPairs(pairs)
	I := gpt.IgnoreIndex
	assert.Equal(t, 4, b.Rows)
	assert.Equal(t, 4, b.T)
	assert.Equal(t, 2, b.Pairs())
	assert.Equal(t, []int{
		1, 2, 0, 0, // prompt+chosen of pair 0
		7, 8, 0, 0, // prompt+chosen of pair 1
		1, 2, 4, 5, // prompt+rejected of pair 0
		7, 0, 0, 0, // prompt+rejected of pair 1
	}, b.IDs)
	assert.Equal(t, []int{
		I, 3, I, I,
		8, 9, I, I,
		I, 4, 5, 6,
		10, I, I, I,
	}, b.Targets)
	assert.Equal(t, []int{1, 2, 3, 1}, b.Lengths)
	assert.Nil(t, b.Ref)

	// Cached reference values come along once every pair has them.
	pairs[0].RefChosen, pairs[0].RefRejected, pairs[0].HasRef = -1, -2, true
	b.FillPairs(pairs)
	assert.Nil(t, b.Ref)
	pairs[1].RefChosen, pairs[1].RefRejected, pairs[1].HasRef = -3, -4, true
	b.FillPairs(pairs)
	assert.Equal(t, []float32{-1, -3, -2, -4}, b.Ref)

	// Refilling with the same shapes allocates nothing.
	allocs := testing.AllocsPerRun(20, func() { b.FillPairs(pairs) })
	assert.Zero(t, allocs)
}

func TestBatchTruncatesAndMismatches(t *testing.T) {
	items := []UnpairedTokens{
		{Prompt: []int{1, 2, 3}, Completion: []int{4}, Desirable: true},
		{Prompt: []int{5}, Completion: []int{6, 7, 8, 9}},
	}
	b := NewBatch(4)
	b.FillMismatched(items) // rows: [1 2 3] + [6 7 8 9], [5] + [4]
	I := gpt.IgnoreIndex
	assert.Equal(t, 4, b.T)
	assert.Equal(t, []int{1, 2, 3, 6, 5, 0, 0, 0}, b.IDs)
	assert.Equal(t, []int{I, I, 6, 7, 4, I, I, I}, b.Targets)
	assert.Equal(t, []int{2, 1}, b.Lengths)
	assert.Empty(t, b.Desirable)

	b.FillUnpaired(items)
	assert.Equal(t, []bool{true, false}, b.Desirable)
	assert.Equal(t, []int{1, 4}, b.Lengths)

	lists := []ListTokens{{Prompt: []int{1}, Completions: [][]int{{2}, {3, 4}, {5}}, Scores: []float64{0.5, 1, 0}, Ref: []float32{-1, -2, -3}}}
	b.FillLists(lists)
	assert.Equal(t, 3, b.Rows)
	assert.Equal(t, []int{3}, b.ListSizes)
	assert.Equal(t, []float32{0.5, 1, 0}, b.Scores)
	assert.Equal(t, []float32{-1, -2, -3}, b.Ref)
	assert.Equal(t, []int{1, 2, 1}, b.Lengths)

	// An empty prompt leaves the first completion token unscored.
	b.FillRows([]Row{{Prompt: nil, Completion: []int{1, 2, 3}}})
	assert.Equal(t, []int{2}, b.Lengths)
	assert.Equal(t, []int{2, 3}, b.Targets)
}
