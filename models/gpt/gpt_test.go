package gpt

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/kiln-ml/kiln/autograd"
	"github.com/kiln-ml/kiln/kernels"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func microConfig() Config {
	return Config{Vocab: 11, Context: 6, Dim: 8, Layers: 2, Heads: 2}
}

func randIDs(rng *rand.Rand, n, vocab int) []int {
	ids := make([]int, n)
	for i := range ids {
		ids[i] = rng.IntN(vocab)
	}
	return ids
}

func TestConfigValidation(t *testing.T) {
	_, err := New(Config{Vocab: 10, Context: 4, Dim: 10, Layers: 1, Heads: 3}, rand.New(rand.NewPCG(1, 1)))
	require.ErrorContains(t, err, "dim 10 is not divisible by heads 3")
	_, err = New(Config{Vocab: 0, Context: 4, Dim: 8, Layers: 1, Heads: 2, Dropout: 1}, rand.New(rand.NewPCG(1, 1)))
	require.ErrorContains(t, err, "vocab 0 must be positive")
	require.ErrorContains(t, err, "dropout 1 must be in [0, 1)")
	_, err = Preset("huge")
	require.ErrorContains(t, err, `unknown model size "huge"`)
}

func TestParameterNamesAndCount(t *testing.T) {
	m, err := New(Tiny(), rand.New(rand.NewPCG(1, 1)))
	require.NoError(t, err)
	names := map[string]bool{}
	for _, p := range m.Parameters() {
		require.False(t, names[p.Name()], "duplicate %s", p.Name())
		names[p.Name()] = true
	}
	for _, n := range []string{"wte.weight", "wpe.weight", "blocks.0.attn.qkv.weight", "blocks.3.mlp.proj.bias", "lnf.weight"} {
		assert.True(t, names[n], n)
	}
	// d=128, L=4, V=256, T=128, tied: the figure torch_gpt_bench.py reports.
	d, L := 128, 4
	want := 256*d + 128*d + L*(4*d+3*d*d+3*d+d*d+d+4*d*d+4*d+4*d*d+d) + 2*d
	assert.Equal(t, want, m.NumParams())
}

func TestInitialLossIsLogVocab(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	m, err := New(Tiny(), rng)
	require.NoError(t, err)
	B, T := 4, 64
	ids := randIDs(rng, B*T, 256)
	loss := m.Loss(autograd.NewTape(autograd.WithoutGrad()), ids, randIDs(rng, B*T, 256), B, T)
	assert.InDelta(t, math.Log(256), loss.Item(), 0.05)
}

func TestGradientCheck(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	cfg := microConfig()
	m, err := New(cfg, rng)
	require.NoError(t, err)
	// Larger weights than GPT-2's init so every path carries signal.
	for _, p := range m.Parameters() {
		d := p.Value().Data()
		for i := range d {
			d[i] += 0.3 * float32(rng.NormFloat64())
		}
	}
	B, T := 2, 5
	x, y := randIDs(rng, B*T, cfg.Vocab), randIDs(rng, B*T, cfg.Vocab)
	y[3] = IgnoreIndex
	f := func() *autograd.Var { return m.Loss(nil, x, y, B, T) }
	require.NoError(t, autograd.CheckGrad(f, m.Parameters(), autograd.GradCheckOptions{Eps: 1e-2, RTol: 3e-2, ATol: 1e-3, MaxElems: 24}))
}

func TestSessionMatchesForward(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, cfg := range []Config{microConfig(), {Vocab: 11, Context: 6, Dim: 8, Layers: 1, Heads: 4, Untied: true, NoBias: true}} {
		m, err := New(cfg, rng)
		require.NoError(t, err)
		T := cfg.Context
		ids := randIDs(rng, T, cfg.Vocab)
		logits := m.Forward(autograd.NewTape(autograd.WithoutGrad()), ids, 1, T).Value()
		s := m.NewSession()
		for i, id := range ids {
			got := s.Next(id)
			want := logits.Slice(1, i, i+1).Contiguous().Data()
			assert.InDeltaSlice(t, toF64(want), toF64(got), 1e-4, "position %d", i)
		}
	}
}

func toF64(s []float32) []float64 {
	out := make([]float64, len(s))
	for i, v := range s {
		out[i] = float64(v)
	}
	return out
}

func TestGenerate(t *testing.T) {
	m, err := New(microConfig(), rand.New(rand.NewPCG(9, 10)))
	require.NoError(t, err)
	cfg := GenerateConfig{MaxTokens: 20, Sampling: Sampling{Temperature: 1, TopK: 5, TopP: 0.9}, Seed: 42}
	a, err := m.Generate([]int{1, 2, 3}, cfg)
	require.NoError(t, err)
	b, err := m.Generate([]int{1, 2, 3}, cfg)
	require.NoError(t, err)
	assert.Len(t, a, 20, "generation runs past the context of 6 by recomputing the cache")
	assert.Equal(t, a, b, "same seed, same tokens")

	greedy, err := m.Generate([]int{1}, GenerateConfig{MaxTokens: 5, Sampling: Sampling{Greedy: true}})
	require.NoError(t, err)
	top1, err := m.Generate([]int{1}, GenerateConfig{MaxTokens: 5, Sampling: Sampling{Temperature: 1, TopK: 1}, Seed: 3})
	require.NoError(t, err)
	assert.Equal(t, greedy, top1, "top-k 1 is greedy")

	stopped, err := m.Generate([]int{1}, GenerateConfig{MaxTokens: 50, Seed: 1, Stop: func(g []int) bool { return len(g) == 4 }})
	require.NoError(t, err)
	assert.Len(t, stopped, 4)

	_, err = m.Generate(nil, cfg)
	assert.ErrorContains(t, err, "empty prompt")
	_, err = m.Generate([]int{11}, cfg)
	assert.ErrorContains(t, err, "outside the vocabulary [0, 11)")
	_, err = m.Generate([]int{1}, GenerateConfig{Sampling: Sampling{TopP: 2}})
	assert.ErrorContains(t, err, "top-p 2 must be in [0, 1]")
}

func TestTopKTopPSampling(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	logits := []float32{3, 2, 1, 0, -1}
	probs := make([]float32, 5)
	seen := map[int]int{}
	for i := 0; i < 2000; i++ {
		seen[Sampling{Temperature: 1, TopK: 2}.Pick(logits, probs, rng)]++
	}
	assert.Len(t, seen, 2)
	// softmax(3,2,1,0,-1) = .636 .234 .086 .032 .012: top-p 0.8 keeps two.
	seen = map[int]int{}
	for i := 0; i < 2000; i++ {
		seen[Sampling{Temperature: 1, TopP: 0.8}.Pick(logits, probs, rng)]++
	}
	assert.Len(t, seen, 2)
	assert.InDelta(t, 0.636/0.870, float64(seen[0])/2000, 0.04)
}

func TestTrainingReducesLoss(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	cfg := Config{Vocab: 16, Context: 16, Dim: 32, Layers: 2, Heads: 2}
	m, err := New(cfg, rng)
	require.NoError(t, err)
	// A deterministic pattern: next token = (token + 1) mod 16.
	B, T := 8, 16
	x, y := make([]int, B*T), make([]int, B*T)
	tape := autograd.NewTape()
	var first, last float32
	for step := 0; step < 60; step++ {
		for b := 0; b < B; b++ {
			start := rng.IntN(16)
			for i := 0; i < T; i++ {
				x[b*T+i] = (start + i) % 16
				y[b*T+i] = (start + i + 1) % 16
			}
		}
		loss := m.Loss(tape, x, y, B, T)
		loss.Backward()
		if step == 0 {
			first = loss.Item()
		}
		last = loss.Item()
		for _, p := range m.Parameters() {
			if g := p.Grad(); g != nil {
				kernels.Axpy(p.Value().Data(), -0.5, g.Data())
			}
			p.ZeroGrad()
		}
		tape.Reset()
	}
	assert.Less(t, last, first/4, "loss %v -> %v", first, last)
}
