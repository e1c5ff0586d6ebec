package tokenizer

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var _ Tokenizer = ByteLevel{}

func TestByteLevelEncode(t *testing.T) {
	var tok ByteLevel
	assert.Equal(t, []int{104, 195, 169, 0, 255}, tok.Encode("h\u00e9\x00\xff"))
	assert.Empty(t, tok.Encode(""))
	assert.Equal(t, 256, tok.VocabSize())
	assert.Equal(t, "byte", tok.Name())
}

func TestByteLevelDecode(t *testing.T) {
	var tok ByteLevel
	for _, s := range []string{"", "hello", "h\u00e9llo \u4e16\u754c", "\xff\xfe", "\xe4\xb8", "a\x00b"} {
		assert.Equal(t, s, tok.Decode(tok.Encode(s)), "%q", s)
	}
	// Out-of-range ids decode to U+FFFD, one per id, without disturbing the rest.
	assert.Equal(t, "a\uFFFDb\uFFFD", tok.Decode([]int{97, 256, 98, -1}))
}

func TestByteLevelTokenBytes(t *testing.T) {
	var tok ByteLevel
	for id := range 256 {
		b := tok.TokenBytes(id)
		require.Len(t, b, 1)
		assert.Equal(t, byte(id), b[0])
		assert.Equal(t, 1, cap(b), "appending must not clobber the next token")
	}
	assert.Nil(t, tok.TokenBytes(-1))
	assert.Nil(t, tok.TokenBytes(256))
	var b []byte
	assert.Zero(t, testing.AllocsPerRun(100, func() { b = tok.TokenBytes(200) }))
	assert.Equal(t, []byte{200}, b)
}

// streamAll decodes ids one at a time and returns the pieces and the total.
func streamAll(tok Tokenizer, ids []int) ([]string, string) {
	d := NewStreamDecoder(tok)
	var pieces []string
	var all strings.Builder
	for _, id := range ids {
		p := d.Next(id)
		pieces = append(pieces, p)
		all.WriteString(p)
	}
	tail := d.Flush()
	pieces = append(pieces, tail)
	all.WriteString(tail)
	return pieces, all.String()
}

func TestStreamDecoderHoldsPartialCharacters(t *testing.T) {
	var tok ByteLevel
	// "é" is C3 A9 and "世" is E4 B8 96: nothing is printed until each completes.
	pieces, all := streamAll(tok, tok.Encode("a\u00e9\u4e16!"))
	assert.Equal(t, []string{"a", "", "\u00e9", "", "", "\u4e16", "!", ""}, pieces)
	assert.Equal(t, "a\u00e9\u4e16!", all)
}

func TestStreamDecoderInvalid(t *testing.T) {
	var tok ByteLevel
	cases := []struct {
		in     string
		pieces []string
	}{
		// A stray continuation byte can never become valid: replaced at once.
		{"\x80a", []string{"\uFFFD", "a", ""}},
		// A truncated sequence interrupted by ASCII: both bytes replaced when the ASCII arrives.
		{"\xe4\xb8a", []string{"", "", "\uFFFD\uFFFDa", ""}},
		// A truncated sequence at the end: replaced by Flush.
		{"a\xe4\xb8", []string{"a", "", "", "\uFFFD\uFFFD"}},
		// Bytes that never occur in UTF-8.
		{"\xff\xc0", []string{"\uFFFD", "\uFFFD", ""}},
	}
	for _, c := range cases {
		pieces, _ := streamAll(tok, tok.Encode(c.in))
		assert.Equal(t, c.pieces, pieces, "%q", c.in)
	}
	// An out-of-range id is a replacement character, and it ends a pending
	// sequence just as any other complete character does.
	pieces, _ := streamAll(tok, []int{0xe4, 300, 'x'})
	assert.Equal(t, []string{"", "\uFFFD\uFFFD", "x", ""}, pieces)
}

func TestStreamDecoderReuse(t *testing.T) {
	var tok ByteLevel
	d := NewStreamDecoder(tok)
	assert.Equal(t, "", d.Next(0xc3))
	assert.Equal(t, "\uFFFD", d.Flush())
	assert.Equal(t, "", d.Flush(), "Flush resets the decoder")
	assert.Equal(t, "z", d.Next('z'))
}

func FuzzByteLevel(f *testing.F) {
	for _, s := range []string{"", "hello", "h\u00e9llo \u4e16\u754c", "\xff\xfe", "\xe4\xb8", "a\x00b", "\x80\xbf\xc0\xc1\xf5\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var tok ByteLevel
		ids := tok.Encode(s)
		if len(ids) != len(s) {
			t.Fatalf("Encode(%q) gave %d ids, want %d", s, len(ids), len(s))
		}
		for _, id := range ids {
			if id < 0 || id >= tok.VocabSize() {
				t.Fatalf("id %d out of range", id)
			}
		}
		if got := tok.Decode(ids); got != s {
			t.Fatalf("Decode(Encode(%q)) = %q", s, got)
		}
		_, streamed := streamAll(tok, ids)
		if !utf8.ValidString(streamed) {
			t.Fatalf("stream decoding of %q is not valid UTF-8: %q", s, streamed)
		}
		if want := string([]rune(s)); streamed != want {
			t.Fatalf("stream decoding of %q = %q, want %q", s, streamed, want)
		}
	})
}
