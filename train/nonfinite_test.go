package train

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/kiln-ml/kiln/autograd"
	"github.com/kiln-ml/kiln/models/gpt"
	"github.com/kiln-ml/kiln/optim"
	"github.com/kiln-ml/kiln/tensor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// probeModel adds sqrt(probe) to a GPT's loss. With probe at 1 this is a
// harmless constant; at 0 the loss stays finite but the gradient of probe,
// and only of probe, is +Inf; at -1 the loss is NaN.
type probeModel struct {
	*gpt.Model
	probe  *autograd.Var
	params []*autograd.Var
}

func newProbeModel(t *testing.T) probeModel {
	m := tinyModel(t, 1)
	probe := autograd.Param(tensor.FromSlice([]float32{1}, 1)).SetName("probe")
	return probeModel{Model: m, probe: probe, params: append(append([]*autograd.Var(nil), m.Parameters()...), probe)}
}

func (p probeModel) Parameters() []*autograd.Var { return p.params }

func (p probeModel) Loss(tape *autograd.Tape, ids, targets []int, B, T int) *autograd.Var {
	return autograd.Add(p.Model.Loss(tape, ids, targets, B, T), autograd.Sum(autograd.Sqrt(p.probe)))
}

// setProbe returns a callback that sets the probe to v after step n.
func (p probeModel) setProbe(n int, v float32) func(context.Context, *Trainer, Record) error {
	return func(_ context.Context, tr *Trainer, _ Record) error {
		if tr.Step() == n {
			p.probe.Value().Data()[0] = v
		}
		return nil
	}
}

func adamWOf(t *testing.T, params []*autograd.Var) Optimizer {
	o, err := optim.New("adamw", params, 1e-3, 0.1)
	require.NoError(t, err)
	return o
}

func snapshot(params []*autograd.Var) [][]float32 {
	var out [][]float32
	for _, p := range params {
		out = append(out, append([]float32(nil), p.Value().Data()...))
	}
	return out
}

func allFinite(t *testing.T, params []*autograd.Var) {
	t.Helper()
	for _, p := range params {
		for i, v := range p.Value().Data() {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("parameter %s element %d is %v", p.Name(), i, v)
			}
		}
	}
}

// TestNonFiniteGradientStops checks that a gradient that is not finite
// stops the run at that step, with a message naming the step and the
// parameter, and with the weights of the step before.
func TestNonFiniteGradientStops(t *testing.T) {
	for _, c := range []struct {
		probe float32
		msg   string
	}{
		{0, "train: step 4: gradient of probe is not finite (loss 5."},
		{-1, "train: step 4: gradient of probe is not finite (loss NaN)"},
	} {
		m := newProbeModel(t)
		dir := t.TempDir()
		tr, err := New(runCfg(dir, 8), m, newSGD(m.Parameters()), tinyDataset(t))
		require.NoError(t, err)
		var before [][]float32
		tr.Callbacks = append(tr.Callbacks, m.setProbe(3, c.probe), func(_ context.Context, tr *Trainer, _ Record) error {
			if tr.Step() == 3 {
				before = snapshot(m.Model.Parameters())
			}
			return nil
		})
		res, err := tr.Run(context.Background())
		require.Error(t, err)
		assert.Contains(t, err.Error(), c.msg)
		assert.Contains(t, err.Error(), "stopping (lower the learning rate, clip gradients, or skip such steps)")
		assert.Equal(t, 3, res.Steps)
		assert.Equal(t, before, snapshot(m.Model.Parameters()), "the failed step changed the weights")
		allFinite(t, m.Model.Parameters())
	}
}

// TestNonFiniteGradientSkips checks that with Skip a step whose gradient is
// not finite changes nothing, is counted in the result, the metrics and
// the checkpoint, and that the run goes on with finite weights.
func TestNonFiniteGradientSkips(t *testing.T) {
	m := newProbeModel(t)
	dir := t.TempDir()
	cfg := runCfg(dir, 10)
	cfg.OnNonFinite = Skip
	tr, err := New(cfg, m, adamWOf(t, m.Parameters()), tinyDataset(t))
	require.NoError(t, err)
	snaps := map[int][][]float32{}
	tr.Callbacks = append(tr.Callbacks,
		m.setProbe(3, 0),  // step 4: +Inf gradient
		m.setProbe(4, 1),  // step 5: fine again
		m.setProbe(6, -1), // step 7: NaN loss
		m.setProbe(7, 1),
		func(_ context.Context, tr *Trainer, _ Record) error {
			snaps[tr.Step()] = snapshot(m.Model.Parameters())
			return nil
		})
	res, err := tr.Run(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 10, res.Steps)
	assert.Equal(t, 2, res.Skipped)
	assert.False(t, math.IsNaN(res.TrainLoss))
	allFinite(t, m.Model.Parameters())
	assert.Equal(t, snaps[3], snaps[4], "skipped step 4 changed the weights")
	assert.Equal(t, snaps[6], snaps[7], "skipped step 7 changed the weights")
	assert.NotEqual(t, snaps[4], snaps[5], "step 5 trained")

	recs, err := ReadMetrics(filepath.Join(dir, "metrics.jsonl"))
	require.NoError(t, err)
	require.Len(t, recs, 10)
	for _, r := range recs {
		assert.Equal(t, r.Step == 4 || r.Step == 7, r.Skipped, "step %d", r.Step)
	}
	assert.True(t, math.IsInf(recs[3].GradNorm, 0) || math.IsNaN(recs[3].GradNorm), "step 4's gradient norm is recorded as not finite")
	assert.True(t, math.IsNaN(recs[6].Loss), "step 7's loss is recorded as not finite")

	// The count survives a resume.
	c, err := OpenCheckpoint(tr.CheckpointPath())
	require.NoError(t, err)
	assert.Equal(t, "2", c.Meta["skipped"])
	m2 := newProbeModel(t)
	tr2, err := New(cfg, m2, adamWOf(t, m2.Parameters()), tinyDataset(t))
	require.NoError(t, err)
	require.NoError(t, tr2.Resume(tr.CheckpointPath()))
	res2, err := tr2.Run(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 2, res2.Skipped)
}
