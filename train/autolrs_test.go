package train

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/kiln-ml/kiln/optim"
	"github.com/kiln-ml/kiln/optim/autolrs"
	"github.com/kiln-ml/kiln/tensor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func autolrsRun(t *testing.T, dir string) (*Trainer, Result) {
	m := tinyModel(t, 1)
	opt, err := optim.New("adamw", m.Parameters(), 1e-3, 0)
	require.NoError(t, err)
	cfg := runCfg(dir, 60)
	cfg.AutoLRS = &autolrs.Config{MinLR: 1e-4, MaxLR: 3e-1, Probes: 3, StageSteps: 12, ProbeSteps: 4, Seed: 5}
	tr, err := New(cfg, m, opt, tinyDataset(t))
	require.NoError(t, err)
	res, err := tr.Run(context.Background())
	require.NoError(t, err)
	return tr, res
}

func TestAutoLRSRun(t *testing.T) {
	dir := t.TempDir()
	a, res := autolrsRun(t, dir)
	assert.Equal(t, 60, res.Steps, "probe steps count towards the run's steps")
	require.NotEmpty(t, a.Stages())
	for _, s := range a.Stages() {
		assert.GreaterOrEqual(t, s.LR, 1e-4)
		assert.LessOrEqual(t, s.LR, 3e-1)
	}
	for _, f := range []string{"autolrs.jsonl", "autolrs.png", "metrics.jsonl"} {
		_, err := os.Stat(filepath.Join(dir, f))
		assert.NoError(t, err, f)
	}
	// Deterministic for a seed.
	b, _ := autolrsRun(t, t.TempDir())
	assert.Equal(t, a.Stages(), b.Stages())
	for i, p := range a.params {
		require.True(t, tensor.Equal(p.Value(), b.params[i].Value()))
	}
}

func TestAutoLRSSnapshotRestoreIsExact(t *testing.T) {
	// Two runs of plain steps; one checkpoints, trains, restores and then
	// continues: its result must equal the run without the detour, except
	// for the batches the detour consumed.
	ds := tinyDataset(t)
	newTrainer := func() *Trainer {
		m := tinyModel(t, 1)
		opt, err := optim.New("adamw", m.Parameters(), 1e-3, 0)
		require.NoError(t, err)
		tr, err := New(runCfg("", 100), m, opt, ds)
		require.NoError(t, err)
		return tr
	}
	ctx := context.Background()
	x, y := newTrainer(), newTrainer()
	rx, ry := &run{}, &run{}
	for i := 0; i < 3; i++ {
		_, err := x.oneStep(ctx, rx, 1e-3)
		require.NoError(t, err)
		_, err = y.oneStep(ctx, ry, 1e-3)
		require.NoError(t, err)
	}
	ad := &autolrsAdapter{t: y, r: ry}
	require.NoError(t, ad.Checkpoint())
	require.NoError(t, ad.Train(ctx, 5e-2, make([]float64, 4)))
	require.NoError(t, ad.Restore())
	// x skips the batches y's detour drew, so both see the same data next.
	for i := 0; i < 4; i++ {
		x.sampler.NextInto(&x.batch)
	}
	for i := 0; i < 3; i++ {
		_, err := x.oneStep(ctx, rx, 1e-3)
		require.NoError(t, err)
		_, err = y.oneStep(ctx, ry, 1e-3)
		require.NoError(t, err)
	}
	for i, p := range x.params {
		require.True(t, tensor.Equal(p.Value(), y.params[i].Value()), p.Name())
	}
}
