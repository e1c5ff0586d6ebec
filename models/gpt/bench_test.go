package gpt

import (
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/kiln-ml/kiln/autograd"
	"github.com/kiln-ml/kiln/kernels"
	"github.com/kiln-ml/kiln/optim"
	"github.com/stretchr/testify/require"
)

// trainStep is one training step: forward, backward, AdamW, as
// shared/bench/torch_gpt_bench.py times it.
type trainStep struct {
	m    *Model
	opt  optim.Optimizer
	tape *autograd.Tape
	x, y []int
	B, T int
}

func newTrainStep(tb testing.TB, cfg Config, B int) *trainStep {
	rng := rand.New(rand.NewPCG(1, 2))
	m, err := New(cfg, rng)
	require.NoError(tb, err)
	opt, err := optim.NewAdamW(m.Parameters(), optim.AdamWConfig{LR: 3e-4, WeightDecay: 0.01})
	require.NoError(tb, err)
	T := cfg.Context
	s := &trainStep{m: m, opt: opt, tape: autograd.NewTape(), x: randIDs(rng, B*T, cfg.Vocab), y: randIDs(rng, B*T, cfg.Vocab), B: B, T: T}
	return s
}

func (s *trainStep) run() float32 {
	loss := s.m.Loss(s.tape, s.x, s.y, s.B, s.T)
	loss.Backward()
	v := loss.Item()
	if err := s.opt.Step(); err != nil {
		panic(err)
	}
	s.opt.ZeroGrad()
	s.tape.Reset()
	return v
}

func benchTrainStep(b *testing.B, cfg Config, B, threads int) {
	defer kernels.SetThreads(kernels.Threads())
	kernels.SetThreads(threads)
	s := newTrainStep(b, cfg, B)
	s.run() // warm the tape's buffers
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.run()
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(B*s.T)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N), "heapB/step")
}

// The two configurations of shared/bench/torch_gpt_bench.py.
func BenchmarkTrainStepTiny1T(b *testing.B)  { benchTrainStep(b, Tiny(), 16, 1) }
func BenchmarkTrainStepTiny2T(b *testing.B)  { benchTrainStep(b, Tiny(), 16, 2) }
func BenchmarkTrainStepSmall1T(b *testing.B) { benchTrainStep(b, Small(), 8, 1) }
func BenchmarkTrainStepSmall2T(b *testing.B) { benchTrainStep(b, Small(), 8, 2) }

// TestWarmStepAllocatesLittle bounds the heap a steady-state training step
// allocates: tensors come from the tape's pool, so what remains is
// bookkeeping (graph nodes' closures and slices).
func TestWarmStepAllocatesLittle(t *testing.T) {
	s := newTrainStep(t, Config{Vocab: 256, Context: 32, Dim: 32, Layers: 2, Heads: 2}, 4)
	s.run()
	s.run()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const n = 5
	for i := 0; i < n; i++ {
		s.run()
	}
	runtime.ReadMemStats(&after)
	perStep := float64(after.TotalAlloc-before.TotalAlloc) / n
	t.Logf("heap allocated per warm step: %.0f bytes", perStep)
	// The model's activations alone are ~1 MB per step; bookkeeping must stay far below.
	require.Less(t, perStep, 64e3)
}
