package optim

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/autograd"
)

// benchMakers are the optimizers timed by BenchmarkStep, with the settings
// of a GPT training run.
var benchMakers = []struct {
	name string
	mk   func(ps []*autograd.Var) (Optimizer, error)
}{
	{"sgd", func(ps []*autograd.Var) (Optimizer, error) { return NewSGD(ps, SGDConfig{LR: 0.1, Momentum: 0.9}) }},
	{"adam", func(ps []*autograd.Var) (Optimizer, error) { return NewAdam(ps, AdamConfig{LR: 3e-4}) }},
	{"adamw", func(ps []*autograd.Var) (Optimizer, error) {
		return NewAdamW(ps, AdamWConfig{LR: 3e-4, WeightDecay: 0.1})
	}},
	{"adamw-hf", func(ps []*autograd.Var) (Optimizer, error) {
		return NewHFAdamW(ps, HFAdamWConfig{LR: 3e-4, WeightDecay: 0.1})
	}},
	{"lion", func(ps []*autograd.Var) (Optimizer, error) { return NewLion(ps, LionConfig{LR: 3e-5, WeightDecay: 1}) }},
}

// BenchmarkStep times one optimizer step over the parameters of the small
// GPT (10.8M parameters).
func BenchmarkStep(b *testing.B) {
	ps := gptParams(newRand(90), 384, 6, 256)
	randomGrads(newRand(91), ps, 1e-2)
	n := 0
	for _, p := range ps {
		n += p.Value().Size()
	}
	for _, bm := range benchMakers {
		b.Run(fmt.Sprintf("%s/%.1fM", bm.name, float64(n)/1e6), func(b *testing.B) {
			opt, err := bm.mk(ps)
			require.NoError(b, err)
			require.NoError(b, opt.Step()) // first touch of the state
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := opt.Step(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6/(float64(n)/1e6), "ms/Mparam")
		})
	}
}

// BenchmarkGradients times the passes over all gradients: the norm
// (clipping without scaling) and the finiteness check of SkipNonFinite.
func BenchmarkGradients(b *testing.B) {
	ps := gptParams(newRand(92), 384, 6, 256)
	randomGrads(newRand(93), ps, 1e-2)
	b.Run("GradNorm", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			GradNorm(ps)
		}
	})
	b.Run("CheckFinite", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if CheckFinite(ps) != nil {
				b.Fatal("non-finite")
			}
		}
	})
}

// A warm step allocates nothing, on tensors large enough to run in parallel.
func TestStepDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items")
	}
	ps := gptParams(newRand(94), 128, 2, 64) // the MLP matrices span several blocks
	randomGrads(newRand(95), ps, 1e-2)
	for _, bm := range append(benchMakers[:len(benchMakers):len(benchMakers)],
		struct {
			name string
			mk   func(ps []*autograd.Var) (Optimizer, error)
		}{"adam-amsgrad-l2", func(ps []*autograd.Var) (Optimizer, error) {
			return NewAdam(ps, AdamConfig{WeightDecay: 0.1, AMSGrad: true})
		}}) {
		opt, err := bm.mk(ps)
		require.NoError(t, err)
		guarded := SkipNonFinite(opt)
		require.NoError(t, guarded.Step())
		allocs := testing.AllocsPerRun(20, func() {
			ClipGradNorm(ps, 1e-3)
			_ = guarded.Step()
		})
		assert.Zero(t, allocs, bm.name)
	}
}
