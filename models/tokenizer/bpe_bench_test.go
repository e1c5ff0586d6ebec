package tokenizer

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// opticks returns the corpus Go ships in GOROOT, or skips the benchmark.
func opticks(b *testing.B) string {
	//lint:ignore SA1019 a benchmark run from the source tree, where the build GOROOT is right.
	text, err := os.ReadFile(filepath.Join(runtime.GOROOT(), "src", "testdata", "Isaac.Newton-Opticks.txt"))
	if err != nil {
		b.Skip("no Opticks corpus in GOROOT")
	}
	return string(text)
}

func BenchmarkTrainBPE512(b *testing.B) {
	text := opticks(b)
	for b.Loop() {
		if _, err := TrainBPE(text, 512); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBPEEncode(b *testing.B) {
	text := opticks(b)
	tok, err := TrainBPE(text, 512)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		tok.Encode(text)
	}
}
