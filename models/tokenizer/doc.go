// Package tokenizer turns text into token ids and back.
//
// A Tokenizer maps a string to ids in [0, VocabSize()) and ids back to
// bytes. ByteLevel is the simplest one: each byte is its own token, so every
// string, valid UTF-8 or not, round-trips exactly. BPE is a byte-level
// byte-pair encoding trained from a corpus (TrainBPE) and saved as JSON; it
// round-trips every string too, with fewer tokens. StreamDecoder turns ids
// into printable text one token at a time, holding back a character whose
// bytes are split across tokens until it is complete, which is what a
// generation loop printing as it samples needs.
//
//	var tok tokenizer.ByteLevel
//	ids := tok.Encode("héllo")  // [104 195 169 108 108 111]
//	s := tok.Decode(ids)        // "héllo"
package tokenizer
