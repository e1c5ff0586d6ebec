package align

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-ml/kiln/models/tokenizer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func writeFile(t *testing.T, content string) string {
	p := filepath.Join(t.TempDir(), "data.jsonl")
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	return p
}

func TestDetectFormat(t *testing.T) {
	for in, want := range map[string]Format{
		"\n\ufeff" + `{"prompt": "a", "chosen": "b", "rejected": "c"}`: PairsFormat,
		`{"chosen": "ab", "rejected": "ac"}`:                           PairsFormat,
		`{"prompt": "a", "completion": "b", "label": true}`:            UnpairedFormat,
		`{"prompt": "a", "completion": "b"}`:                           CompletionsFormat,
		`{"prompt": "a", "completions": ["b", "c"], "scores": [1, 0]}`: ListsFormat,
		`not json`:    PairsFormat,
		`{"text": 1}`: PairsFormat,
		"":            PairsFormat,
	} {
		assert.Equal(t, want, DetectFormat([]byte(in)), in)
	}
}

func TestReadData(t *testing.T) {
	cfg := TokenizeConfig{Context: 16, Vocab: 256}
	tok := tokenizer.ByteLevel{}
	pairs := writeFile(t, `{"prompt": "2+2=", "chosen": "4", "rejected": "5"}
{"prompt": "sky:", "chosen": " blue", "rejected": " green"}
{"prompt": "a prompt that fills the whole context", "chosen": "x", "rejected": "y"}
{"prompt": "hi", "chosen": " there, how are you today?", "rejected": "!"}
`)
	d, rep, err := ReadData(pairs, PairedData, tok, cfg)
	require.NoError(t, err)
	assert.Len(t, d.Pairs, 3)
	assert.Equal(t, []int{3}, rep.Dropped, "the long prompt is dropped")
	assert.Equal(t, 1, rep.Truncated, "the long completion is cut to fit")
	assert.Equal(t, 17, len(d.Pairs[2].Prompt)+len(d.Pairs[2].Chosen), "prompt and completion keep Context+1 tokens")

	u, _, err := ReadData(pairs, UnpairedData, tok, cfg)
	require.NoError(t, err)
	require.Len(t, u.Unpaired, 6)
	assert.True(t, u.Unpaired[0].Desirable)
	assert.False(t, u.Unpaired[1].Desirable)
	f, _, err := ReadData(pairs, ForgetData, tok, cfg)
	require.NoError(t, err)
	assert.Equal(t, ids("5"), f.Unpaired[0].Completion, "rejected completions are forgotten")
	assert.Equal(t, ids("4"), f.Retain[0].Completion, "chosen ones retained")
	l, _, err := ReadData(pairs, ListwiseData, tok, cfg)
	require.NoError(t, err)
	assert.Equal(t, []float64{1, 0}, l.Lists[0].Scores)

	lists := writeFile(t, `{"prompt": "q", "completions": ["a", "b", "c"], "scores": [0.5, 2, -1]}
{"prompt": "r", "completions": ["a", "b"], "scores": [1, 1]}`)
	p, _, err := ReadData(lists, PairedData, tok, cfg)
	require.NoError(t, err)
	require.Len(t, p.Pairs, 1, "the list of equal scores gives no pair")
	assert.Equal(t, ids("b"), p.Pairs[0].Chosen)
	assert.Equal(t, ids("c"), p.Pairs[0].Rejected)

	labelled := writeFile(t, `{"prompt": "q", "completion": "good", "label": true}
{"prompt": "q", "completion": "bad", "label": false}`)
	fl, _, err := ReadData(labelled, ForgetData, tok, cfg)
	require.NoError(t, err)
	assert.Len(t, fl.Unpaired, 1)
	assert.Len(t, fl.Retain, 1)

	errs := map[string]struct {
		content string
		kind    Kind
		msg     string
	}{
		"malformed":     {`{"prompt": "a", "chosen": "b", "rejected": "c"}` + "\n{oops", PairedData, "data.jsonl:2: malformed JSON"},
		"empty chosen":  {`{"prompt": "a", "chosen": "", "rejected": "c"}`, PairedData, `data.jsonl:1: field "chosen": empty string`},
		"missing field": {`{"prompt": "a", "chosen": "b"}`, PairedData, `field "rejected": missing`},
		"empty file":    {"\n \n", PairedData, "is empty; want one JSON object per line"},
		"unpaired for dpo": {`{"prompt": "a", "completion": "b", "label": true}`, PairedData,
			"holds unpaired (prompt, completion, label), which paired losses cannot train on"},
		"no labels for kto": {`{"prompt": "a", "completion": "b"}`, UnpairedData, "which unpaired losses cannot train on"},
		"only prompts too long": {`{"prompt": "` + strings.Repeat("p", 40) + `", "chosen": "b", "rejected": "c"}`, PairedData,
			"every prompt fills the context of 16 tokens"},
		"nothing to forget": {`{"prompt": "q", "completion": "good", "label": true}`, ForgetData, "no undesirable"},
	}
	for name, c := range errs {
		_, _, err := ReadData(writeFile(t, c.content), c.kind, tok, cfg)
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), c.msg, name)
	}
	_, _, err = ReadData(filepath.Join(t.TempDir(), "none.jsonl"), PairedData, tok, cfg)
	assert.ErrorContains(t, err, "no such file")
}

func TestTrainDataSplit(t *testing.T) {
	d := DataFromPairs(ForgetData, make([]PairTokens, 20))
	train, held := d.Split(0.25, 3)
	assert.Len(t, train.Unpaired, 15)
	assert.Len(t, held.Unpaired, 5)
	assert.Len(t, train.Retain, 15)
	assert.Len(t, held.Retain, 5)
	one := DataFromPairs(PairedData, make([]PairTokens, 2))
	train, held = one.Split(0.1, 3)
	assert.Len(t, train.Pairs, 1, "a positive fraction holds out at least one")
	assert.Len(t, held.Pairs, 1)
	train, held = one.Split(0, 3)
	assert.Equal(t, 2, train.Len())
	assert.Equal(t, 0, held.Len())
}
