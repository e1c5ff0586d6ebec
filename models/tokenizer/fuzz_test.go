package tokenizer

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// doublingMerges returns a tokenizer file of n merges, each joining the
// previous token to itself: token 256+i is 2^(i+1) bytes long, so a file of
// a few hundred bytes describes tokens of terabytes.
func doublingMerges(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"type":"bpe","merges":[[97,97]`)
	for i := 1; i < n; i++ {
		fmt.Fprintf(&b, ",[%d,%d]", 255+i, 255+i)
	}
	b.WriteString("]}")
	return []byte(b.String())
}

// bpeAllocBound is what decoding an n-byte tokenizer file may allocate:
// each merge costs a bounded amount (its pair, a token of at most maxChunk
// bytes, a map entry) and takes at least 6 bytes of JSON.
func bpeAllocBound(n int) uint64 { return 128*uint64(n) + 1<<20 }

func unmarshalWithin(t testing.TB, b []byte) (*BPE, error) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	tok := new(BPE)
	err := tok.UnmarshalJSON(b)
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > bpeAllocBound(len(b)) {
		t.Fatalf("decoding a %d-byte tokenizer allocated %d bytes, more than %d (err: %v)", len(b), got, bpeAllocBound(len(b)), err)
	}
	return tok, err
}

func TestUnmarshalBPERejectsOverlongTokens(t *testing.T) {
	b := doublingMerges(40)
	_, err := unmarshalWithin(t, b)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "merge 6 joins [261 261] into a token of 128 bytes")

	// Up to maxChunk bytes a token is fine: 2^6 = 64.
	tok, err := unmarshalWithin(t, doublingMerges(6))
	require.NoError(t, err)
	assert.Equal(t, []int{261}, tok.Encode(strings.Repeat("a", 64)))
}

// bpeSeeds are the seed corpus of FuzzUnmarshalBPE: a trained tokenizer,
// edge cases of the format and files that must be refused.
func bpeSeeds() (map[string][]byte, error) {
	trained, err := TrainBPE(sample, 300)
	if err != nil {
		return nil, err
	}
	good, err := trained.MarshalJSON()
	if err != nil {
		return nil, err
	}
	seeds := map[string][]byte{"trained": good, "doubling": doublingMerges(12)}
	for name, s := range map[string]string{
		"no_merges":     `{"type":"bpe","merges":[]}`,
		"merges_absent": `{"type":"bpe"}`,
		"merges_null":   `{"type":"bpe","merges":null}`,
		"other_type":    `{"type":"gpt2","merges":[]}`,
		"repeated_pair": `{"type":"bpe","merges":[[97,98],[97,98]]}`,
		"forward_ref":   `{"type":"bpe","merges":[[256,97]]}`,
		"negative_id":   `{"type":"bpe","merges":[[-1,97]]}`,
		"short_pair":    `{"type":"bpe","merges":[[97]]}`,
		"long_pair":     `{"type":"bpe","merges":[[97,98,99]]}`,
		"float_id":      `{"type":"bpe","merges":[[1e3,2]]}`,
		"array":         `[]`,
		"null":          `null`,
		"empty":         ``,
		"merges_object": `{"type":"bpe","merges":{}}`,
		"huge_id":       `{"type":"bpe","merges":[[99999999999999999999,1]]}`,
	} {
		seeds[name] = []byte(s)
	}
	return seeds, nil
}

var writeSeeds = flag.Bool("write-seeds", false, "rewrite testdata/fuzz/FuzzUnmarshalBPE from bpeSeeds")

// TestWriteFuzzSeeds writes the seed corpus of FuzzUnmarshalBPE when run
// with -write-seeds, and otherwise checks that it is up to date.
func TestWriteFuzzSeeds(t *testing.T) {
	seeds, err := bpeSeeds()
	require.NoError(t, err)
	dir := filepath.Join("testdata", "fuzz", "FuzzUnmarshalBPE")
	for name, b := range seeds {
		path := filepath.Join(dir, name)
		content := "go test fuzz v1\n[]byte(" + strconv.Quote(string(b)) + ")\n"
		if *writeSeeds {
			require.NoError(t, os.MkdirAll(dir, 0o755))
			require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
			continue
		}
		got, err := os.ReadFile(path)
		require.NoError(t, err, "seed missing: run go test ./models/tokenizer -run TestWriteFuzzSeeds -write-seeds")
		assert.Equal(t, content, string(got), path)
	}
}

// FuzzUnmarshalBPE feeds arbitrary tokenizer files to UnmarshalJSON: it
// must never panic or allocate more than a bounded multiple of the file,
// and a tokenizer it accepts must round-trip through JSON and encode any
// text back exactly.
func FuzzUnmarshalBPE(f *testing.F) {
	seeds, err := bpeSeeds()
	if err != nil {
		f.Fatal(err)
	}
	for _, b := range seeds {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tok, err := unmarshalWithin(t, b)
		if err != nil {
			return
		}
		if tok.VocabSize() != 256+len(tok.merges) {
			t.Fatalf("vocabulary of %d tokens for %d merges", tok.VocabSize(), len(tok.merges))
		}
		for id := range tok.VocabSize() {
			if n := len(tok.TokenBytes(id)); n == 0 || n > maxChunk {
				t.Fatalf("token %d is %d bytes long; want 1 to %d", id, n, maxChunk)
			}
		}
		again, err := tok.MarshalJSON()
		if err != nil {
			t.Fatalf("cannot re-encode an accepted tokenizer: %v", err)
		}
		var back BPE
		if err := json.Unmarshal(again, &back); err != nil {
			t.Fatalf("cannot re-decode a re-encoded tokenizer: %v", err)
		}
		if fmt.Sprint(back.merges) != fmt.Sprint(tok.merges) {
			t.Fatalf("merges changed in a round trip")
		}
		for _, s := range []string{sample, string(b), "\xff\xfe aa  bb 123"} {
			ids := tok.Encode(s)
			for _, id := range ids {
				if id < 0 || id >= tok.VocabSize() {
					t.Fatalf("Encode gave id %d outside [0, %d)", id, tok.VocabSize())
				}
			}
			if got := tok.Decode(ids); got != s {
				t.Fatalf("Decode(Encode(%q)) = %q", s, got)
			}
		}
	})
}
