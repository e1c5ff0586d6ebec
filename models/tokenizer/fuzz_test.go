package tokenizer

import (
	"encoding/json"
	"fmt"
	"runtime"
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

// FuzzUnmarshalBPE feeds arbitrary tokenizer files to UnmarshalJSON: it
// must never panic or allocate more than a bounded multiple of the file,
// and a tokenizer it accepts must round-trip through JSON and encode any
// text back exactly.
func FuzzUnmarshalBPE(f *testing.F) {
	trained, err := TrainBPE(sample, 300)
	if err != nil {
		f.Fatal(err)
	}
	good, err := trained.MarshalJSON()
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		string(good), `{"type":"bpe","merges":[]}`, `{"type":"bpe"}`, `{"type":"bpe","merges":null}`,
		`{"type":"gpt2","merges":[]}`, `{"type":"bpe","merges":[[97,98],[97,98]]}`,
		`{"type":"bpe","merges":[[256,97]]}`, `{"type":"bpe","merges":[[-1,97]]}`,
		`{"type":"bpe","merges":[[97]]}`, `{"type":"bpe","merges":[[97,98,99]]}`,
		`{"type":"bpe","merges":[[1e3,2]]}`, `[]`, `null`, ``, `{"type":"bpe","merges":{}}`,
		string(doublingMerges(12)),
	} {
		f.Add([]byte(s))
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
