package tokenizer

// ByteLevel is the byte-level tokenizer: 256 tokens, token i is the byte i.
// It encodes any string, valid UTF-8 or not, and decodes it back exactly.
// The zero value is ready to use.
type ByteLevel struct{}

// allBytes backs TokenBytes so that it never allocates.
var allBytes = func() (b [256]byte) {
	for i := range b {
		b[i] = byte(i)
	}
	return b
}()

// Encode returns the bytes of s as ids.
func (ByteLevel) Encode(s string) []int {
	ids := make([]int, len(s))
	for i := 0; i < len(s); i++ {
		ids[i] = int(s[i])
	}
	return ids
}

// Decode returns the bytes with the given ids; ids outside [0, 256) decode
// to U+FFFD.
func (ByteLevel) Decode(ids []int) string {
	b := make([]byte, 0, len(ids))
	for _, id := range ids {
		if id < 0 || id > 255 {
			b = append(b, replacement...)
			continue
		}
		b = append(b, byte(id))
	}
	return string(b)
}

// VocabSize returns 256.
func (ByteLevel) VocabSize() int { return 256 }

// Name returns "byte".
func (ByteLevel) Name() string { return "byte" }

// TokenBytes returns the single byte id, or nil if id is outside [0, 256).
func (ByteLevel) TokenBytes(id int) []byte {
	if id < 0 || id > 255 {
		return nil
	}
	return allBytes[id : id+1 : id+1]
}
