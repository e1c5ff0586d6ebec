package autolrs

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// decaying is a loss curve that does not depend on the learning rate.
func decaying(lr float64, x int) float64 { return 1 + 2*math.Exp(-0.01*float64(x)) }

func TestNewValidatesConfig(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		msg  string
	}{
		{"missing bounds", Config{}, "learning-rate bounds must be positive"},
		{"negative min", Config{MinLR: -1, MaxLR: 1}, "learning-rate bounds must be positive"},
		{"infinite max", Config{MinLR: 1e-3, MaxLR: math.Inf(1)}, "learning-rate bounds must be positive"},
		{"min above max", Config{MinLR: 1, MaxLR: 0.1}, "MinLR must be below MaxLR"},
		{"equal bounds", Config{MinLR: 0.1, MaxLR: 0.1}, "MinLR must be below MaxLR"},
		{"negative probes", Config{MinLR: 1e-3, MaxLR: 1, Probes: -1}, "Probes must not be negative"},
		{"short probes", Config{MinLR: 1e-3, MaxLR: 1, ProbeSteps: 2}, "ProbeSteps must be at least 3"},
		{"short default probes", Config{MinLR: 1e-3, MaxLR: 1, StageSteps: 20}, "ProbeSteps must be at least 3"},
		{"negative kappa", Config{MinLR: 1e-3, MaxLR: 1, Kappa: -1}, "Kappa must be finite"},
		{"nan diverged", Config{MinLR: 1e-3, MaxLR: 1, DivergedLoss: math.NaN()}, "DivergedLoss must be finite"},
		{"warmup without lr", Config{MinLR: 1e-3, MaxLR: 1, WarmupSteps: 10}, "WarmupLR must be positive"},
		{"few validation points", Config{MinLR: 1e-3, MaxLR: 1, ValidationPoints: 2}, "ValidationPoints must be at least 3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.msg)
		})
	}
}

func TestNewFillsOfficialDefaults(t *testing.T) {
	c, err := New(Config{MinLR: 1e-3, MaxLR: 1e-1})
	require.NoError(t, err)
	cfg := c.Config()
	assert.Equal(t, 10, cfg.Probes)
	assert.Equal(t, 100, cfg.ProbeSteps)
	assert.Equal(t, 1000, cfg.StageSteps)
	assert.Equal(t, 8000, cfg.MaxStageSteps)
	assert.Equal(t, 1e6, cfg.Kappa)
	assert.Equal(t, 1e6, cfg.DivergedLoss)
	assert.Equal(t, 16, cfg.ValidationPoints)
	assert.Equal(t, 1001, c.MinSteps())
}

func TestStageScheduleAndValidationSwitch(t *testing.T) {
	// Spec §6.5-2: (τ', τ) = (100, 1000), (200, 2000), (400, 4000),
	// (800, 8000), (800, 8000), each stage costing 2τ steps; from the fifth
	// stage on the probes are forecast from 16 validation losses.
	tr := validatingTrainer{newRecordingTrainer(decaying)}
	tr.val = func(lr float64, x int) float64 { return 0.5 + math.Exp(-0.001*float64(x)) }
	c, err := New(Config{MinLR: 1e-3, MaxLR: 1e-1, Seed: 1})
	require.NoError(t, err)
	budget := 2 * (1000 + 2000 + 4000 + 8000 + 8000)
	res, err := c.Run(context.Background(), tr, budget)
	require.NoError(t, err)
	require.Len(t, res.Stages, 5)
	want := [][2]int{{100, 1000}, {200, 2000}, {400, 4000}, {800, 8000}, {800, 8000}}
	steps := 0
	for i, s := range res.Stages {
		assert.Equal(t, want[i], [2]int{s.ProbeSteps, s.StageSteps}, "stage %d", i)
		assert.Equal(t, 2*s.StageSteps, s.SearchSteps+s.TrainSteps, "stage %d", i)
		assert.Len(t, s.Probes, 10)
		assert.Equal(t, i == 4, s.Validation, "stage %d", i)
		steps += s.SearchSteps + s.TrainSteps
		assert.Equal(t, steps, s.Steps)
	}
	assert.Equal(t, budget, res.Steps)
	assert.Equal(t, budget, tr.steps, "the trainer ran exactly the steps reported")
	assert.Equal(t, budget/2, res.SearchSteps)

	vals := 0
	for _, o := range tr.ops {
		if o.kind == "val" {
			vals++
		}
	}
	assert.Equal(t, 10*16, vals, "16 validation losses per probe in the last stage only")
	tp, tau, val := c.NextStage()
	assert.Equal(t, [3]any{800, 8000, true}, [3]any{tp, tau, val})
}

func TestStageCallSequenceRestoresCheckpoint(t *testing.T) {
	// Spec §6.5-3 from the controller's side: every probe and the stage's
	// training start from the checkpoint taken at the start of the stage.
	tr := newRecordingTrainer(decaying)
	c, err := New(Config{MinLR: 1e-3, MaxLR: 1e-1, Probes: 4, StageSteps: 50, Seed: 3})
	require.NoError(t, err)
	rep, err := c.Stage(context.Background(), tr, 1000)
	require.NoError(t, err)
	kinds := []string{}
	for _, o := range tr.ops {
		kinds = append(kinds, o.kind)
		if o.kind == "train" {
			assert.True(t, o.fromCheckpoint, "training at lr %g did not start from the checkpoint", o.lr)
		}
	}
	assert.Equal(t, []string{"ckpt", "train", "restore", "train", "restore", "train", "restore", "train", "restore", "train"}, kinds)
	trains := []op{}
	for _, o := range tr.ops {
		if o.kind == "train" {
			trains = append(trains, o)
		}
	}
	for i, p := range rep.Probes {
		assert.Equal(t, p.LR, trains[i].lr)
		assert.Equal(t, 5, trains[i].steps)
	}
	assert.Equal(t, rep.LR, trains[4].lr)
	assert.Equal(t, 50, trains[4].steps)
	assert.Equal(t, 70, c.Steps())
}

func TestChoosesProbeNearestOptimum(t *testing.T) {
	// Spec §6.5-4: losses 1 + (ln η − ln η₀)² + 2e^{−0.01x}: all probes have
	// the same curve shifted by a function of η, so the forecasts rank the
	// probes by their distance to η₀ and the stage picks the nearest one.
	const eta0 = 0.0123
	dist := func(lr float64) float64 { return math.Abs(math.Log(lr) - math.Log(eta0)) }
	tr := newRecordingTrainer(func(lr float64, x int) float64 {
		d := dist(lr)
		return 1 + d*d + 2*math.Exp(-0.01*float64(x))
	})
	c, err := New(Config{MinLR: 1e-4, MaxLR: 1, Seed: 11})
	require.NoError(t, err)
	res, err := c.Run(context.Background(), tr, 2000+4000+8000)
	require.NoError(t, err)
	require.Len(t, res.Stages, 3)
	for _, s := range res.Stages {
		nearest := s.Probes[0]
		for _, p := range s.Probes {
			if dist(p.LR) < dist(nearest.LR) {
				nearest = p
			}
			assert.InDelta(t, p.Curve.At(float64(s.StageSteps)), p.Forecast, 1e-12)
			assert.False(t, p.Diverged)
		}
		assert.Equal(t, nearest.LR, s.LR, "stage %d", s.Stage)
		assert.Less(t, dist(s.LR), math.Log(2), "stage %d: ten probes over four decades come within a factor 2", s.Stage)
	}
}

func TestDivergedProbesAreScoredAndAvoided(t *testing.T) {
	tr := newRecordingTrainer(func(lr float64, x int) float64 {
		if lr > 0.01 && x > 50 {
			return math.NaN()
		}
		return 1 + 2*math.Exp(-lr*float64(x))
	})
	var probes []Probe
	c, err := New(Config{MinLR: 1e-4, MaxLR: 1, Seed: 2, OnProbe: func(p Probe) { probes = append(probes, p) }})
	require.NoError(t, err)
	rep, err := c.Stage(context.Background(), tr, 2000)
	require.NoError(t, err)
	require.Len(t, probes, len(rep.Probes))
	for i := range probes {
		assert.Equal(t, rep.Probes[i].LR, probes[i].LR, "OnProbe sees every probe in order")
	}
	diverged := 0
	for _, p := range rep.Probes {
		if p.LR > 0.01 {
			diverged++
			assert.True(t, p.Diverged)
			assert.Equal(t, DefaultDivergedLoss, p.Forecast)
			assert.Equal(t, Curve{}, p.Curve)
		} else {
			assert.False(t, p.Diverged)
			assert.Less(t, p.Forecast, 3.0)
		}
	}
	assert.Positive(t, diverged)
	assert.LessOrEqual(t, rep.LR, 0.01)
}

func TestRunIsDeterministicForASeed(t *testing.T) {
	run := func(seed uint64) Result {
		c, err := New(Config{MinLR: 1e-4, MaxLR: 1, Seed: seed})
		require.NoError(t, err)
		res, err := c.Run(context.Background(), newNQM(5, 0.02), 2000+4000)
		require.NoError(t, err)
		return res
	}
	a, b := run(1), run(1)
	assert.Equal(t, a, b)
	c := run(2)
	assert.NotEqual(t, a.Stages[0].Probes[0].LR, c.Stages[0].Probes[0].LR, "the seed draws each stage's first probe")
}

func TestRunBudget(t *testing.T) {
	ctx := context.Background()
	newC := func() *Controller {
		c, err := New(Config{MinLR: 1e-3, MaxLR: 1e-1, StageSteps: 100, Probes: 5, Seed: 1})
		require.NoError(t, err)
		return c
	}
	// Too small for the first search.
	_, err := newC().Run(ctx, newRecordingTrainer(decaying), 50)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "too small")

	// Stage 0 costs 5·10 + 100; stage 1 would cost 5·20 + 200 but only
	// 160 steps are left: a full search and 60 training steps, whose
	// length is also the forecast horizon.
	tr := newRecordingTrainer(decaying)
	res, err := newC().Run(ctx, tr, 150+160)
	require.NoError(t, err)
	require.Len(t, res.Stages, 2)
	last := res.Stages[1]
	assert.Equal(t, 100, last.SearchSteps)
	assert.Equal(t, 60, last.TrainSteps)
	for _, p := range last.Probes {
		assert.InDelta(t, p.Curve.At(60), p.Forecast, 1e-12)
	}
	assert.Equal(t, 310, res.Steps)
	assert.Equal(t, 310, tr.steps)

	// If the remainder cannot hold a search, it continues at the last rate.
	tr = newRecordingTrainer(decaying)
	res, err = newC().Run(ctx, tr, 150+80)
	require.NoError(t, err)
	require.Len(t, res.Stages, 2)
	tail := res.Stages[1]
	assert.Empty(t, tail.Probes)
	assert.Equal(t, res.Stages[0].LR, tail.LR)
	assert.Equal(t, 80, tail.TrainSteps)
	assert.Equal(t, 230, tr.steps)
}

func TestWarmupAndValidationSafeguard(t *testing.T) {
	// Warmup: lr_t = WarmupLR·(t+1)/WarmupSteps, one step at a time; the
	// last warmup loss (here 2) is the loss AutoLRS starts from. In
	// validation mode a probe whose validation losses reach it is scored
	// with its last validation loss instead of the extrapolation.
	tr := validatingTrainer{newRecordingTrainer(func(lr float64, x int) float64 { return 2 })}
	tr.val = func(lr float64, x int) float64 {
		if lr > 0.01 {
			return 2.5 - 0.001*float64(x) // starts above the initial loss
		}
		return 1 + math.Exp(-0.05*float64(x))
	}
	c, err := New(Config{MinLR: 1e-3, MaxLR: 1e-1, StageSteps: 100, MaxStageSteps: 100, Probes: 4,
		WarmupSteps: 4, WarmupLR: 0.2, Seed: 4})
	require.NoError(t, err)
	res, err := c.Run(context.Background(), tr, 4+2*(4*10+100))
	require.NoError(t, err)
	for i, want := range []float64{0.05, 0.1, 0.15, 0.2} {
		o := tr.ops[i]
		assert.Equal(t, "train", o.kind)
		assert.Equal(t, 1, o.steps)
		assert.InDelta(t, want, o.lr, 1e-15)
	}
	require.Len(t, res.Stages, 2)
	assert.Equal(t, 4, res.Stages[0].WarmupSteps)
	assert.False(t, res.Stages[0].Validation)
	v := res.Stages[1]
	require.True(t, v.Validation)
	replaced := 0
	for _, p := range v.Probes {
		// 10 steps per probe and 10 validation points: a measurement after
		// every step; the forecast is at 100 measurements.
		if p.LR > 0.01 {
			replaced++
			assert.True(t, p.Replaced)
			assert.InDelta(t, 2.5-0.001*10, p.Forecast, 1e-12)
		} else {
			assert.False(t, p.Replaced)
			assert.InDelta(t, p.Curve.At(100), p.Forecast, 1e-12)
		}
	}
	assert.Positive(t, replaced)
	assert.Equal(t, 4+280, tr.steps)
}

func TestRunStopsOnContextCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	c, err := New(Config{MinLR: 1e-3, MaxLR: 1e-1, StageSteps: 100, Seed: 1, OnProbe: func(Probe) {
		if n++; n == 3 {
			cancel()
		}
	}})
	require.NoError(t, err)
	tr := newRecordingTrainer(decaying)
	res, err := c.Run(ctx, tr, 10000)
	assert.True(t, errors.Is(err, context.Canceled), "got %v", err)
	assert.Equal(t, 30, tr.steps, "no training after the cancellation")
	assert.Equal(t, 30, res.Steps)
	assert.Empty(t, res.Stages)
}

func TestEndToEndMatchesBestConstantRate(t *testing.T) {
	// The noisy quadratic model from its steady state has one best constant
	// rate for every budget (≈0.045 here). Grid-search it for the budget of
	// three default stages, then run AutoLRS for the same total number of
	// steps, probes included: every stage's rate must be within a factor of
	// 3 of the grid's best, and the final loss close to the best constant
	// rate's.
	const budget = 2000 + 4000 + 8000
	bestLR, bestLoss := 0.0, math.Inf(1)
	losses := make([]float64, budget)
	for i := 0; i <= 80; i++ {
		lr := math.Pow(10, -4+4*float64(i)/80)
		tr := newNQM(100, 0)
		require.NoError(t, tr.Train(context.Background(), lr, losses))
		if l := tr.loss(); l < bestLoss {
			bestLR, bestLoss = lr, l
		}
	}
	require.Greater(t, bestLR, 1e-3, "the best rate must be inside the search interval")
	require.Less(t, bestLR, 0.3)
	slow := newNQM(100, 0)
	require.NoError(t, slow.Train(context.Background(), bestLR/10, losses))

	for _, seed := range []uint64{1, 2} {
		c, err := New(Config{MinLR: 1e-4, MaxLR: 1, Seed: seed})
		require.NoError(t, err)
		tr := newNQM(seed, 0.02)
		res, err := c.Run(context.Background(), tr, budget)
		require.NoError(t, err)
		require.Equal(t, budget, tr.steps)
		require.Len(t, res.Stages, 3)
		for _, s := range res.Stages {
			ratio := s.LR / bestLR
			t.Logf("seed %d stage %d: lr %.4g = %.2f × best constant %.4g", seed, s.Stage, s.LR, ratio, bestLR)
			assert.True(t, ratio > 1.0/3 && ratio < 3, "seed %d stage %d: lr %g vs best %g", seed, s.Stage, s.LR, bestLR)
		}
		t.Logf("seed %d: final loss %.5g, best constant %.5g, a tenth of it %.5g", seed, tr.loss(), bestLoss, slow.loss())
		assert.Less(t, tr.loss(), 1.2*bestLoss)
	}
}
