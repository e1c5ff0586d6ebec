package tokenizer

import "unicode/utf8"

// Tokenizer maps text to token ids and back.
//
// Decode concatenates the bytes of the ids' tokens; the result need not be
// valid UTF-8 (a character may be split across tokens), so use a
// StreamDecoder or strings.ToValidUTF8 for display. An id outside
// [0, VocabSize()) decodes to the replacement character U+FFFD rather than
// panicking, since ids may come from a model or a file.
type Tokenizer interface {
	// Encode returns the token ids of s, each in [0, VocabSize()).
	Encode(s string) []int
	// Decode returns the bytes the ids stand for, as a string.
	Decode(ids []int) string
	// VocabSize returns the number of distinct token ids.
	VocabSize() int
	// Name identifies the tokenizer, e.g. in checkpoints and logs.
	Name() string
	// TokenBytes returns the bytes of token id, or nil if id is out of
	// range. No token is empty. The caller must not modify the result.
	TokenBytes(id int) []byte
}

// replacement is U+FFFD, what an out-of-range id decodes to.
const replacement = "\uFFFD"

// StreamDecoder decodes a stream of token ids into valid UTF-8 text, one
// token at a time. Bytes that cannot start or continue a character become
// U+FFFD, one per byte; a character whose bytes are still arriving is held
// back until it is complete. The text it yields, followed by Flush, equals
// the runes of Decode over the same ids.
type StreamDecoder struct {
	tok     Tokenizer
	pending []byte
}

// NewStreamDecoder returns a StreamDecoder over t.
func NewStreamDecoder(t Tokenizer) *StreamDecoder {
	return &StreamDecoder{tok: t}
}

// Next adds token id and returns the text it completes, possibly "".
func (d *StreamDecoder) Next(id int) string {
	b := d.tok.TokenBytes(id)
	if b == nil {
		d.pending = append(d.pending, replacement...)
	} else {
		d.pending = append(d.pending, b...)
	}
	out := make([]byte, 0, len(d.pending))
	i := 0
	for i < len(d.pending) {
		rest := d.pending[i:]
		if !utf8.FullRune(rest) {
			break // a valid prefix of a character: wait for more bytes
		}
		r, size := utf8.DecodeRune(rest)
		if r == utf8.RuneError && size == 1 {
			out = append(out, replacement...)
		} else {
			out = append(out, rest[:size]...)
		}
		i += size
	}
	d.pending = append(d.pending[:0], d.pending[i:]...)
	return string(out)
}

// Flush returns the bytes still held back, each replaced by U+FFFD since no
// later token can complete them, and resets the decoder.
func (d *StreamDecoder) Flush() string {
	s := string([]rune(string(d.pending)))
	d.pending = d.pending[:0]
	return s
}
