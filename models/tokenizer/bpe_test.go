package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var _ Tokenizer = (*BPE)(nil)

const sample = "the cat sat on the mat. the cat ate the rat; the rat sat on the hat.\n" +
	"then the mat and the hat sat there, 1234 and 1234 again.\n"

func TestChunks(t *testing.T) {
	assert.Equal(t, []string{"the", " cat", "...", "  ", " x", "\n\n", "12", " é", "!"},
		chunks("the cat...   x\n\n12 é!"))
	assert.Equal(t, []string{" "}, chunks(" "))
	assert.Equal(t, []string{"  "}, chunks("  "))
	assert.Empty(t, chunks(""))
	long := strings.Repeat("a", 2*maxChunk+1)
	assert.Equal(t, []string{long[:maxChunk], long[maxChunk : 2*maxChunk], "a"}, chunks(long))
}

func TestTrainBPE(t *testing.T) {
	tok, err := TrainBPE(sample, 300)
	require.NoError(t, err)
	require.Greater(t, tok.VocabSize(), 256, "some pair occurs twice")
	assert.LessOrEqual(t, tok.VocabSize(), 300)

	// The first merge is the most frequent adjacent pair within chunks,
	// counted here independently of the trainer.
	counts := map[[2]int]int{}
	for _, c := range chunks(sample) {
		for i := 0; i+1 < len(c); i++ {
			counts[[2]int{int(c[i]), int(c[i+1])}]++
		}
	}
	best := tok.merges[0]
	for p, n := range counts {
		assert.True(t, n < counts[best] || (n == counts[best] && !less(p, best)), "pair %q beats the first merge %q", []byte{byte(p[0]), byte(p[1])}, tok.Decode(best[:]))
	}

	ids := tok.Encode(sample)
	assert.Less(t, len(ids), len(sample), "merges shorten the encoding")
	assert.Equal(t, sample, tok.Decode(ids))
	assert.Len(t, tok.Encode(" the"), 1, "a frequent word becomes one token")
	for _, id := range ids {
		assert.NotEmpty(t, tok.TokenBytes(id))
	}

	again, err := TrainBPE(sample, 300)
	require.NoError(t, err)
	assert.Equal(t, tok.merges, again.merges, "training is deterministic")

	_, err = TrainBPE(sample, 100)
	assert.ErrorContains(t, err, "at least 256")
}

// TestBPEEncodeMatchesTraining checks that encoding the training text gives
// the same tokens as replaying the merges in order over its chunks.
func TestBPEEncodeMatchesTraining(t *testing.T) {
	tok, err := TrainBPE(sample, 320)
	require.NoError(t, err)
	var want []int
	for _, c := range chunks(sample) {
		word := ByteLevel{}.Encode(c)
		for i, m := range tok.merges {
			word = mergePair(word, m, 256+i)
		}
		want = append(want, word...)
	}
	assert.Equal(t, want, tok.Encode(sample))
}

func TestBPESaveLoad(t *testing.T) {
	tok, err := TrainBPE(sample, 290)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "bpe.json")
	require.NoError(t, tok.Save(path))
	loaded, err := LoadBPE(path)
	require.NoError(t, err)
	assert.Equal(t, tok.VocabSize(), loaded.VocabSize())
	assert.Equal(t, tok.Encode(sample), loaded.Encode(sample))
	assert.Equal(t, "bpe", loaded.Name())

	empty := newBPE(nil)
	b, err := json.Marshal(empty)
	require.NoError(t, err)
	assert.JSONEq(t, `{"type":"bpe","merges":[]}`, string(b))

	bad := map[string]string{
		`{"type":"wordpiece","merges":[]}`:      `type "wordpiece"`,
		`{"type":"bpe","merges":[[256,1]]}`:     "merge 0 joins [256 1]; expected ids below 256",
		`{"type":"bpe","merges":[[1,2],[1,2]]}`: "merge 1 repeats the pair [1 2]",
		`{"type":"bpe","merges":[[-1,2]]}`:      "expected ids below 256",
		`{"type":"bpe","merges":`:               "decoding BPE",
	}
	for in, want := range bad {
		require.NoError(t, os.WriteFile(path, []byte(in), 0o644))
		_, err := LoadBPE(path)
		assert.ErrorContains(t, err, want, in)
	}
	_, err = LoadBPE(filepath.Join(t.TempDir(), "missing.json"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestBPEDecodeOutOfRange(t *testing.T) {
	tok, err := TrainBPE(sample, 270)
	require.NoError(t, err)
	assert.Equal(t, "a\uFFFD\uFFFD", tok.Decode([]int{'a', -1, tok.VocabSize()}))
	assert.Nil(t, tok.TokenBytes(tok.VocabSize()))
}

func TestBPEStream(t *testing.T) {
	text := strings.Repeat("héllo wörld ", 5)
	tok, err := TrainBPE(text, 280)
	require.NoError(t, err)
	_, all := streamAll(tok, tok.Encode(text))
	assert.Equal(t, text, all)
}

func FuzzBPE(f *testing.F) {
	tok, err := TrainBPE(sample+"héllo wörld, héllo wörld\t\t\r\n", 330)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"", sample, " the  cat ", "\xff\xe4\xb8", "héllo", "   \n "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ids := tok.Encode(s)
		for _, id := range ids {
			if id < 0 || id >= tok.VocabSize() {
				t.Fatalf("id %d out of range", id)
			}
		}
		if got := tok.Decode(ids); got != s {
			t.Fatalf("Decode(Encode(%q)) = %q", s, got)
		}
		if strings.Join(chunks(s), "") != s {
			t.Fatalf("chunks of %q do not concatenate to it", s)
		}
	})
}
