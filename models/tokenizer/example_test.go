package tokenizer_test

import (
	"fmt"

	"github.com/kiln-ml/kiln/models/tokenizer"
)

func Example() {
	var tok tokenizer.ByteLevel
	ids := tok.Encode("héllo")
	fmt.Println(ids, tok.Decode(ids))
	// Output: [104 195 169 108 108 111] héllo
}

// A generation loop prints each token as it is sampled; the stream decoder
// holds back the first byte of "é" until the second arrives.
func ExampleStreamDecoder() {
	var tok tokenizer.ByteLevel
	d := tokenizer.NewStreamDecoder(tok)
	for _, id := range tok.Encode("né") {
		fmt.Printf("%q ", d.Next(id))
	}
	fmt.Printf("%q\n", d.Flush())
	// Output: "n" "" "é" ""
}
