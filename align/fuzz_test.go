package align

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var writeSeeds = flag.Bool("write-seeds", false, "rewrite the seed corpora in testdata/fuzz")

// jsonlSeeds are the seed corpus of every JSONL fuzz target: each format's
// valid lines, the others' (a wrong format), and malformed input.
var jsonlSeeds = map[string]string{
	"pairs":         "\ufeff" + `{"prompt": "The sky is", "chosen": " blue.", "rejected": " green.", "id": 7}` + "\n\n" + `{"chosen": "The sky is blue.", "rejected": "The sky is green.", "chosen_fraction": 0.9}` + "\n",
	"pairs_prefix":  `{"chosen": "abc", "rejected": "abcd"}` + "\n" + `{"chosen": "a\xff", "rejected": "a\xfe"}`,
	"pairs_equal":   `{"chosen": "same", "rejected": "same"}`,
	"pairs_nulls":   `{"prompt": null, "chosen": "x y", "rejected": "x z", "chosen_fraction": null}`,
	"pairs_bad":     `{"prompt": "p", "chosen": "", "rejected": 3, "chosen_fraction": 1.5}`,
	"unpaired":      `{"prompt": "Q", "completion": " yes", "label": true}` + "\r\n" + `{"prompt": "Q", "completion": " no", "label": false}`,
	"unpaired_bad":  `{"prompt": "Q", "completion": " yes", "label": "true"}`,
	"completions":   `{"prompt": "Q", "completion": " yes"}`,
	"lists":         `{"prompt": "Q", "completions": ["a", "b", "c"], "scores": [1, 0.5, -2e3]}`,
	"lists_bad":     `{"prompt": "Q", "completions": ["a"], "scores": [1, 2]}`,
	"lists_chat":    `{"prompt": "Q", "completions": [[{"role": "assistant", "content": "a"}]], "scores": [1]}`,
	"lists_huge":    `{"prompt": "Q", "completions": ["a", "b"], "scores": [1e400, 0]}`,
	"not_object":    "[1, 2]\nnull\n",
	"torn":          `{"prompt": "Q", "chos`,
	"empty":         "",
	"blank":         " \n\t\n",
	"duplicate_key": `{"prompt": "a", "prompt": "b", "chosen": "c", "rejected": "d"}`,
}

// checkReadError fails unless err is nil or a *DataError naming a line of
// the input: the input is in memory, so nothing else can go wrong.
func checkReadError(t *testing.T, err error) bool {
	t.Helper()
	if err == nil {
		return false
	}
	var de *DataError
	if !errors.As(err, &de) {
		t.Fatalf("error is not a *DataError: %v", err)
	}
	if de.Line < 1 {
		t.Fatalf("error names line %d: %v", de.Line, err)
	}
	return true
}

// jsonl writes one JSON object per line.
func jsonl(t *testing.T, objs []map[string]any) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, o := range objs {
		b, err := json.Marshal(o)
		if err != nil {
			t.Fatalf("cannot write %v: %v", o, err)
		}
		buf.Write(append(b, '\n'))
	}
	return buf.Bytes()
}

// increasingLines fails unless the line numbers are increasing and at
// least 1.
func increasingLines(t *testing.T, lines []int) {
	t.Helper()
	prev := 0
	for _, l := range lines {
		if l <= prev {
			t.Fatalf("line numbers %v are not increasing from 1", lines)
		}
		prev = l
	}
}

func addSeeds(f *testing.F) {
	for _, s := range jsonlSeeds {
		f.Add([]byte(s))
	}
}

// FuzzReadPairs checks that ReadPairs never panics, reports every problem
// as a *DataError, and that the pairs it accepts are well formed and read
// back the same once written with explicit prompts.
func FuzzReadPairs(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		pairs, err := ReadPairs(bytes.NewReader(b), "f.jsonl")
		if checkReadError(t, err) {
			return
		}
		var objs []map[string]any
		var lines []int
		for _, p := range pairs {
			if p.Prompt == "" || p.Chosen == "" || p.Rejected == "" {
				t.Fatalf("accepted a pair with an empty text: %+v", p)
			}
			if !(p.ChosenFraction > 0 && p.ChosenFraction <= 1) {
				t.Fatalf("accepted chosen_fraction %v", p.ChosenFraction)
			}
			lines = append(lines, p.Line)
			objs = append(objs, map[string]any{"prompt": p.Prompt, "chosen": p.Chosen, "rejected": p.Rejected, "chosen_fraction": p.ChosenFraction})
		}
		increasingLines(t, lines)
		again, err := ReadPairs(bytes.NewReader(jsonl(t, objs)), "again.jsonl")
		if err != nil {
			t.Fatalf("cannot re-read accepted pairs: %v", err)
		}
		for i := range again {
			again[i].Line = pairs[i].Line
		}
		if !assert.ObjectsAreEqual(pairs, again) {
			t.Fatalf("pairs changed in a round trip:\n%+v\n%+v", pairs, again)
		}
	})
}

// FuzzReadUnpaired checks ReadUnpaired as FuzzReadPairs checks ReadPairs,
// and that ReadCompletions accepts whatever ReadUnpaired does.
func FuzzReadUnpaired(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		comps, cerr := ReadCompletions(bytes.NewReader(b), "f.jsonl")
		checkReadError(t, cerr)
		items, err := ReadUnpaired(bytes.NewReader(b), "f.jsonl")
		if checkReadError(t, err) {
			return
		}
		if cerr != nil {
			t.Fatalf("ReadCompletions refused what ReadUnpaired accepts: %v", cerr)
		}
		var objs []map[string]any
		var lines []int
		for i, u := range items {
			if u.Prompt == "" || u.Completion == "" {
				t.Fatalf("accepted an item with an empty text: %+v", u)
			}
			if comps[i].Prompt != u.Prompt || comps[i].Completion != u.Completion || comps[i].Line != u.Line {
				t.Fatalf("ReadCompletions read %+v where ReadUnpaired read %+v", comps[i], u)
			}
			lines = append(lines, u.Line)
			objs = append(objs, map[string]any{"prompt": u.Prompt, "completion": u.Completion, "label": u.Desirable})
		}
		increasingLines(t, lines)
		again, err := ReadUnpaired(bytes.NewReader(jsonl(t, objs)), "again.jsonl")
		if err != nil {
			t.Fatalf("cannot re-read accepted items: %v", err)
		}
		for i := range again {
			again[i].Line = items[i].Line
		}
		if !assert.ObjectsAreEqual(items, again) {
			t.Fatalf("items changed in a round trip:\n%+v\n%+v", items, again)
		}
	})
}

// FuzzReadLists checks ReadLists as FuzzReadPairs checks ReadPairs.
func FuzzReadLists(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		lists, err := ReadLists(bytes.NewReader(b), "f.jsonl")
		if checkReadError(t, err) {
			return
		}
		var objs []map[string]any
		var lines []int
		for _, l := range lists {
			if l.Prompt == "" || len(l.Completions) < 2 || len(l.Scores) != len(l.Completions) {
				t.Fatalf("accepted a malformed list: %+v", l)
			}
			for i, c := range l.Completions {
				if c == "" || math.IsNaN(l.Scores[i]) || math.IsInf(l.Scores[i], 0) {
					t.Fatalf("accepted completion %d of %+v", i, l)
				}
			}
			lines = append(lines, l.Line)
			objs = append(objs, map[string]any{"prompt": l.Prompt, "completions": l.Completions, "scores": l.Scores})
		}
		increasingLines(t, lines)
		again, err := ReadLists(bytes.NewReader(jsonl(t, objs)), "again.jsonl")
		if err != nil {
			t.Fatalf("cannot re-read accepted lists: %v", err)
		}
		for i := range again {
			again[i].Line = lists[i].Line
		}
		if !assert.ObjectsAreEqual(lists, again) {
			t.Fatalf("lists changed in a round trip:\n%+v\n%+v", lists, again)
		}
	})
}

// TestWriteFuzzSeeds writes the seed corpora of the fuzz targets above to
// testdata/fuzz when run with -write-seeds, and otherwise checks that they
// are there.
func TestWriteFuzzSeeds(t *testing.T) {
	for _, target := range []string{"FuzzReadPairs", "FuzzReadUnpaired", "FuzzReadLists"} {
		dir := filepath.Join("testdata", "fuzz", target)
		for name, s := range jsonlSeeds {
			path := filepath.Join(dir, name)
			content := "go test fuzz v1\n[]byte(" + strconv.Quote(s) + ")\n"
			if *writeSeeds {
				require.NoError(t, os.MkdirAll(dir, 0o755))
				require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
				continue
			}
			got, err := os.ReadFile(path)
			require.NoError(t, err, "seed missing: run go test ./align -run TestWriteFuzzSeeds -write-seeds")
			assert.Equal(t, content, string(got), path)
		}
	}
}
