package optim

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/autograd"
	"github.com/kiln-ml/kiln/models/gpt"
)

// lrSmallGPT returns the parameters of the small GPT (d = 384, 6 layers,
// 10.8M parameters) with random gradients.
func lrSmallGPT(b *testing.B) []*autograd.Var {
	model, err := gpt.New(gpt.Small(), newRand(100))
	require.NoError(b, err)
	ps := model.Parameters()
	randomGrads(newRand(101), ps, 1e-2)
	return ps
}

// lrBench times Step of opt, after a first step that refreshes every
// projector and touches the state.
func lrBench(b *testing.B, opt Optimizer) {
	require.NoError(b, opt.Step())
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := opt.Step(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(opt.StateBytes())/1e6, "state-MB")
}

// BenchmarkLowRankStep times one step over the small GPT's parameters at
// rank 128 (the 24 attention and MLP matrices projected): "steady" never
// refreshes the projectors after the first step, "refresh" refreshes every
// matrix on every step (UpdateGap 1), so that a step with the usual
// UpdateGap T costs steady + (refresh − steady)/T on average; "T200" runs
// that schedule directly (give it -benchtime=400x or more). AdamW over the
// same parameters is the reference (steady/adamw).
func BenchmarkLowRankStep(b *testing.B) {
	ps := lrSmallGPT(b)
	const never = 1 << 30
	type variant struct {
		kind       string
		randomized bool
	}
	variants := map[string]variant{
		"galore-exact":         {KindGaLore, false},
		"galore-randomized":    {KindGaLore, true},
		"fira-exact":           {KindFira, false},
		"natural-galore-exact": {KindNaturalGaLore, false},
	}
	for _, mode := range []struct {
		name  string
		gap   int
		names []string
	}{
		{"steady", never, []string{"galore-exact", "galore-randomized", "fira-exact", "natural-galore-exact"}},
		{"refresh", 1, []string{"galore-exact", "galore-randomized", "fira-exact"}},
		{"T200", 200, []string{"galore-exact", "galore-randomized"}},
	} {
		b.Run(mode.name, func(b *testing.B) {
			if mode.name == "steady" {
				b.Run("adamw", func(b *testing.B) {
					opt, err := NewAdamW(ps, AdamWConfig{LR: 1e-3, WeightDecay: 0.1})
					require.NoError(b, err)
					lrBench(b, opt)
				})
			}
			for _, name := range mode.names {
				v := variants[name]
				b.Run(name, func(b *testing.B) {
					opt, err := NewLowRank(v.kind, ps, LowRankConfig{LR: 1e-3, Rank: 128, UpdateGap: mode.gap, Scale: 0.25, RandomizedSVD: v.randomized})
					require.NoError(b, err)
					lrBench(b, opt)
				})
			}
		})
	}
}

// A warm step that does not refresh allocates nothing, whatever the kind
// and base, on matrices large enough for the parallel paths.
func TestLowRankStepDoesNotAllocate(t *testing.T) {
	if lrRace {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	ps := gptParams(newRand(102), 128, 2, 64)
	randomGrads(newRand(103), ps, 1e-2)
	for _, kind := range LowRankKinds() {
		for _, base := range []string{"adamw-hf", "adamw", "adam", "lion", "sgd"} {
			core, err := LowRankBase(base)
			require.NoError(t, err)
			opt, err := NewLowRank(kind, ps, LowRankConfig{Rank: 16, UpdateGap: 1 << 30, WeightDecay: 0.1, Base: core, Reproject: RotateMoments})
			require.NoError(t, err)
			require.NoError(t, opt.Step()) // refreshes
			allocs := testing.AllocsPerRun(10, func() { _ = opt.Step() })
			assert.Zero(t, allocs, "%s/%s", kind, base)
		}
	}
}
