package align

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadPairs(t *testing.T) {
	in := "\ufeff" + `{"prompt": "The sky is", "chosen": " blue.", "rejected": " green.", "id": 7}

{"chosen": "The sky is blue.", "rejected": "The sky is green.", "chosen_fraction": 0.9}
`
	pairs, err := ReadPairs(strings.NewReader(in), "prefs.jsonl")
	require.NoError(t, err)
	require.Len(t, pairs, 2)
	assert.Equal(t, Pair{Prompt: "The sky is", Chosen: " blue.", Rejected: " green.", ChosenFraction: DefaultChosenFraction, Line: 1}, pairs[0])
	// Implicit prompt: the space before the split moves into the completions.
	assert.Equal(t, Pair{Prompt: "The sky is", Chosen: " blue.", Rejected: " green.", ChosenFraction: 0.9, Line: 3}, pairs[1])
}

func TestSplitImplicitPrompt(t *testing.T) {
	cases := []struct{ chosen, rejected, prompt, c, r string }{
		{"The sky is blue.", "The sky is green.", "The sky is", " blue.", " green."},
		{"Q: 2+2? A: 4", "Q: 2+2? A: 5", "Q: 2+2? A:", " 4", " 5"},
		// One a prefix of the other: TRL keeps the last common character
		// in the completions.
		{"abc", "abcd", "ab", "c", "cd"},
		{"xyz", "abc", "", "xyz", "abc"},
		// Characters, not bytes: é and è share their first byte.
		{"café", "cafè", "caf", "é", "è"},
		// Invalid UTF-8 compares byte by byte.
		{"a\xff", "a\xfe", "a", "\xff", "\xfe"},
	}
	for _, c := range cases {
		p, ch, rj := SplitImplicitPrompt(c.chosen, c.rejected)
		assert.Equal(t, []string{c.prompt, c.c, c.r}, []string{p, ch, rj}, "%q / %q", c.chosen, c.rejected)
	}
}

func TestReadErrors(t *testing.T) {
	cases := []struct {
		name, read, input string
		line              int
		field, msg        string
	}{
		{"malformed", "pairs", `{"prompt": "a", "chosen": "b", "rejected": "c"}` + "\n" + `{"prompt": "a", "chosen": "b",`, 2, "", "malformed JSON"},
		{"not an object", "pairs", `["a", "b"]`, 1, "", "want a JSON object, got a JSON array"},
		{"missing chosen", "pairs", `{"prompt": "a", "rejected": "c"}`, 1, "chosen", "missing"},
		{"null rejected", "pairs", `{"prompt": "a", "chosen": "b", "rejected": null}`, 1, "rejected", "missing"},
		{"empty chosen", "pairs", `{"prompt": "a", "chosen": "", "rejected": "c"}`, 1, "chosen", "empty string"},
		{"empty prompt", "pairs", `{"prompt": "", "chosen": "b", "rejected": "c"}`, 1, "prompt", "empty string"},
		{"number", "pairs", `{"prompt": 3, "chosen": "b", "rejected": "c"}`, 1, "prompt", "want a string, got a number"},
		{"conversational", "pairs", `{"prompt": [{"role": "user", "content": "hi"}], "chosen": "b", "rejected": "c"}`, 1, "prompt", "chat template"},
		{"no shared prefix", "pairs", `{"chosen": "blue", "rejected": "green"}`, 1, "prompt", "share no prefix"},
		{"fraction", "pairs", `{"prompt": "a", "chosen": "b", "rejected": "c", "chosen_fraction": 1.5}`, 1, "chosen_fraction", "outside (0, 1]"},
		{"label type", "unpaired", `{"prompt": "a", "completion": "b", "label": "yes"}`, 1, "label", "want true (desirable) or false (undesirable), got a string"},
		{"missing label", "unpaired", `{"prompt": "a", "completion": "b"}`, 1, "label", "missing"},
		{"empty completion", "unpaired", `{"prompt": "a", "completion": "", "label": true}`, 1, "completion", "empty string"},
		{"one completion", "lists", `{"prompt": "a", "completions": ["b"], "scores": [1]}`, 1, "completions", "want at least 2"},
		{"empty item", "lists", `{"prompt": "a", "completions": ["b", ""], "scores": [1, 2]}`, 1, "completions", "item 1: empty string"},
		{"scores mismatch", "lists", `{"prompt": "a", "completions": ["b", "c", "d"], "scores": [1, 2]}`, 1, "scores", "2 scores for 3 completions"},
		{"score type", "lists", `{"prompt": "a", "completions": ["b", "c"], "scores": [1, "x"]}`, 1, "scores", "item 1: want a number, got a string"},
		{"completions type", "lists", `{"prompt": "a", "completions": "b", "scores": [1]}`, 1, "completions", "want a list of strings, got a string"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var err error
			r := strings.NewReader(c.input)
			switch c.read {
			case "pairs":
				_, err = ReadPairs(r, "f.jsonl")
			case "unpaired":
				_, err = ReadUnpaired(r, "f.jsonl")
			case "lists":
				_, err = ReadLists(r, "f.jsonl")
			}
			var de *DataError
			require.True(t, errors.As(err, &de), "want a DataError, got %v", err)
			assert.Equal(t, c.line, de.Line)
			assert.Equal(t, c.field, de.Field)
			assert.Contains(t, de.Msg, c.msg)
			assert.True(t, strings.HasPrefix(err.Error(), "f.jsonl:"), err.Error())
		})
	}
}

func TestReadUnpairedAndLists(t *testing.T) {
	u, err := ReadUnpaired(strings.NewReader(`{"prompt": "p", "completion": "c", "label": false}`), "u")
	require.NoError(t, err)
	assert.Equal(t, []Unpaired{{Prompt: "p", Completion: "c", Desirable: false, Line: 1}}, u)
	c, err := ReadCompletions(strings.NewReader(`{"prompt": "p", "completion": "c"}`), "c")
	require.NoError(t, err)
	assert.Equal(t, []Unpaired{{Prompt: "p", Completion: "c", Line: 1}}, c)
	l, err := ReadLists(strings.NewReader(`{"prompt": "p", "completions": ["a", "b"], "scores": [0.5, -1]}`), "l")
	require.NoError(t, err)
	assert.Equal(t, []List{{Prompt: "p", Completions: []string{"a", "b"}, Scores: []float64{0.5, -1}, Line: 1}}, l)
}

func TestReadFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.jsonl")
	require.NoError(t, os.WriteFile(path, []byte(`{"prompt": "a", "chosen": "b", "rejected": "c"}`), 0o644))
	pairs, err := ReadPairsFile(path)
	require.NoError(t, err)
	assert.Len(t, pairs, 1)
	_, err = ReadPairsFile(filepath.Join(dir, "missing.jsonl"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}
