package tokenizer

import (
	"encoding/json"
	"fmt"
	"os"
)

// BPE is a byte-level byte-pair-encoding tokenizer, as in "Neural Machine
// Translation of Rare Words with Subword Units" (Sennrich et al.) applied to
// bytes as GPT-2 does: ids 0-255 are the bytes, and id 256+i is merge i, the
// concatenation of two earlier tokens. Text is first cut into chunks (a word
// with at most one leading space, a run of digits, of punctuation or of
// white space), and merges never cross a chunk boundary. Every string,
// valid UTF-8 or not, encodes and decodes back exactly.
type BPE struct {
	merges [][2]int
	tokens [][]byte
	ranks  map[[2]int]int
}

// TrainBPE learns merges from text until the vocabulary has vocabSize
// tokens or no pair of adjacent tokens occurs twice, so the result may be
// smaller than asked. Ties between equally frequent pairs go to the pair
// with the smaller ids, so training is deterministic.
func TrainBPE(text string, vocabSize int) (*BPE, error) {
	if vocabSize < 256 {
		return nil, fmt.Errorf("tokenizer: BPE vocabulary size %d; expected at least 256 (the bytes)", vocabSize)
	}
	// Each distinct chunk once, with its count.
	counts := make(map[string]int)
	for _, c := range chunks(text) {
		counts[c]++
	}
	words := make([][]int, 0, len(counts))
	freqs := make([]int, 0, len(counts))
	for c, n := range counts {
		words = append(words, ByteLevel{}.Encode(c))
		freqs = append(freqs, n)
	}
	t := newBPE(nil)
	for t.VocabSize() < vocabSize {
		pairs := make(map[[2]int]int)
		for w, word := range words {
			for i := 0; i+1 < len(word); i++ {
				pairs[[2]int{word[i], word[i+1]}] += freqs[w]
			}
		}
		best, bestN := [2]int{}, 1
		for p, n := range pairs {
			if n > bestN || (n == bestN && n > 1 && less(p, best)) {
				best, bestN = p, n
			}
		}
		if bestN < 2 {
			break
		}
		id := t.addMerge(best)
		for w, word := range words {
			words[w] = mergePair(word, best, id)
		}
	}
	return t, nil
}

func less(a, b [2]int) bool {
	return a[0] < b[0] || (a[0] == b[0] && a[1] < b[1])
}

// newBPE builds a tokenizer from a list of merges, which must be valid.
func newBPE(merges [][2]int) *BPE {
	t := &BPE{ranks: make(map[[2]int]int)}
	t.tokens = make([][]byte, 256, 256+len(merges))
	for i := range t.tokens {
		t.tokens[i] = allBytes[i : i+1 : i+1]
	}
	for _, m := range merges {
		t.addMerge(m)
	}
	return t
}

func (t *BPE) addMerge(p [2]int) int {
	id := len(t.tokens)
	a, b := t.tokens[p[0]], t.tokens[p[1]]
	tok := make([]byte, 0, len(a)+len(b))
	tok = append(append(tok, a...), b...)
	t.tokens = append(t.tokens, tok[:len(tok):len(tok)])
	t.ranks[p] = len(t.merges)
	t.merges = append(t.merges, p)
	return id
}

// mergePair replaces each non-overlapping occurrence of p, left to right,
// by id, in place.
func mergePair(word []int, p [2]int, id int) []int {
	out := word[:0]
	for i := 0; i < len(word); i++ {
		if i+1 < len(word) && word[i] == p[0] && word[i+1] == p[1] {
			out = append(out, id)
			i++
			continue
		}
		out = append(out, word[i])
	}
	return out
}

// Encode returns the token ids of s.
func (t *BPE) Encode(s string) []int {
	ids := make([]int, 0, len(s)/2+1)
	seen := make(map[string][]int) // text repeats its words: encode each once
	var word []int
	for _, c := range chunks(s) {
		if enc, ok := seen[c]; ok {
			ids = append(ids, enc...)
			continue
		}
		word = append(word[:0], ByteLevel{}.Encode(c)...)
		// Apply the earliest-learned merge present until none is left: the
		// same result as replaying the merges in training order.
		for len(word) > 1 {
			best, bestRank := [2]int{}, len(t.merges)
			for i := 0; i+1 < len(word); i++ {
				p := [2]int{word[i], word[i+1]}
				if r, ok := t.ranks[p]; ok && r < bestRank {
					best, bestRank = p, r
				}
			}
			if bestRank == len(t.merges) {
				break
			}
			word = mergePair(word, best, 256+bestRank)
		}
		seen[c] = append([]int(nil), word...)
		ids = append(ids, word...)
	}
	return ids
}

// Decode returns the bytes of the ids' tokens; out-of-range ids decode to
// U+FFFD.
func (t *BPE) Decode(ids []int) string {
	var b []byte
	for _, id := range ids {
		if tok := t.TokenBytes(id); tok != nil {
			b = append(b, tok...)
		} else {
			b = append(b, replacement...)
		}
	}
	return string(b)
}

// VocabSize returns 256 plus the number of merges.
func (t *BPE) VocabSize() int { return len(t.tokens) }

// Name returns "bpe".
func (t *BPE) Name() string { return "bpe" }

// TokenBytes returns the bytes of token id, or nil if id is out of range.
func (t *BPE) TokenBytes(id int) []byte {
	if id < 0 || id >= len(t.tokens) {
		return nil
	}
	return t.tokens[id]
}

// bpeFile is the JSON form of a BPE tokenizer.
type bpeFile struct {
	Type   string   `json:"type"`
	Merges [][2]int `json:"merges"`
}

// MarshalJSON encodes the tokenizer as {"type":"bpe","merges":[[a,b],...]}.
func (t *BPE) MarshalJSON() ([]byte, error) {
	merges := t.merges
	if merges == nil {
		merges = [][2]int{}
	}
	return json.Marshal(bpeFile{Type: "bpe", Merges: merges})
}

// UnmarshalJSON decodes a tokenizer written by MarshalJSON, checking that
// every merge joins tokens that exist before it into a token no longer than
// a chunk of text (64 bytes), as training makes them.
func (t *BPE) UnmarshalJSON(b []byte) error {
	var f bpeFile
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("tokenizer: decoding BPE: %w", err)
	}
	if f.Type != "bpe" {
		return fmt.Errorf("tokenizer: decoding BPE: type %q; expected \"bpe\"", f.Type)
	}
	seen := make(map[[2]int]bool, len(f.Merges))
	// Token lengths, checked before any token is built: each merge may
	// double the longest token, so a short file could otherwise describe
	// tokens of terabytes.
	lens := make([]int, 256, 256+len(f.Merges))
	for i := range lens {
		lens[i] = 1
	}
	for i, m := range f.Merges {
		if m[0] < 0 || m[1] < 0 || m[0] >= 256+i || m[1] >= 256+i {
			return fmt.Errorf("tokenizer: decoding BPE: merge %d joins %v; expected ids below %d", i, m, 256+i)
		}
		if seen[m] {
			return fmt.Errorf("tokenizer: decoding BPE: merge %d repeats the pair %v", i, m)
		}
		seen[m] = true
		n := lens[m[0]] + lens[m[1]]
		if n > maxChunk {
			return fmt.Errorf("tokenizer: decoding BPE: merge %d joins %v into a token of %d bytes; expected at most %d (no chunk of text is longer)", i, m, n, maxChunk)
		}
		lens = append(lens, n)
	}
	*t = *newBPE(f.Merges)
	return nil
}

// Save writes the tokenizer as JSON to path.
func (t *BPE) Save(path string) error {
	b, err := t.MarshalJSON()
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("tokenizer: saving BPE: %w", err)
	}
	return nil
}

// LoadBPE reads a tokenizer saved by Save.
func LoadBPE(path string) (*BPE, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: loading BPE: %w", err)
	}
	t := new(BPE)
	if err := t.UnmarshalJSON(b); err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	return t, nil
}

// byteClass sorts bytes for chunking: bytes of 0x80 and above count as
// letters so that multi-byte UTF-8 characters stay inside words.
func byteClass(c byte) int {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= 0x80:
		return 1 // letter
	case c >= '0' && c <= '9':
		return 2 // digit
	case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f':
		return 3 // white space
	default:
		return 4 // punctuation and control
	}
}

// maxChunk bounds a chunk's length, which keeps encoding linear in the
// input however long a run of one class is (a base64 blob, a rule of
// dashes); no token can be longer.
const maxChunk = 64

// chunks cuts s into maximal runs of one byte class, at most maxChunk bytes
// long; a single space just before a run of letters, digits or punctuation
// joins that run, so " the" is one chunk, as in GPT-2's pre-tokenizer. The
// chunks concatenate to s.
func chunks(s string) []string {
	var out []string
	start := 0
	for start < len(s) {
		i := start
		if s[i] == ' ' && i+1 < len(s) && byteClass(s[i+1]) != 3 {
			i++ // the leading space joins the next run
		}
		cls := byteClass(s[i])
		j := i + 1
		for j < len(s) && j-start < maxChunk && byteClass(s[j]) == cls {
			// A run of white space leaves its last space to the next word.
			if cls == 3 && s[j] == ' ' && j+1 < len(s) && byteClass(s[j+1]) != 3 {
				break
			}
			j++
		}
		out = append(out, s[start:j])
		start = j
	}
	return out
}
