package align

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/kiln-ml/kiln/models/gpt"
)

// BenchmarkSample draws 64 completions of 24 tokens from the tiny preset
// (8 per prompt of 29 tokens, as kiln align builds pairs): batched with
// shared prompts (Sample), and one gpt.Generate per completion for
// comparison. Completions per second are reported.
func BenchmarkSample(b *testing.B) {
	m, err := gpt.New(gpt.Tiny(), rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		b.Fatal(err)
	}
	prompts := make([][]int, 8)
	for i := range prompts {
		prompts[i] = ids("of Oil of Cloves or Carraway " + string(rune('a'+i)))[1:]
	}
	const k, tokens = 8, 24
	b.Run("batched", func(b *testing.B) {
		for b.Loop() {
			if _, err := Sample(context.Background(), m, prompts, k, SampleConfig{Tokens: tokens}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*len(prompts)*k)/b.Elapsed().Seconds(), "completions/s")
	})
	b.Run("generate", func(b *testing.B) {
		for b.Loop() {
			for i, p := range prompts {
				for j := range k {
					if _, err := m.Generate(p, gpt.GenerateConfig{MaxTokens: tokens, Seed: uint64(i*k + j)}); err != nil {
						b.Fatal(err)
					}
				}
			}
		}
		b.ReportMetric(float64(b.N*len(prompts)*k)/b.Elapsed().Seconds(), "completions/s")
	})
}
