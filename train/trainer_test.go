package train

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-ml/kiln/autograd"
	"github.com/kiln-ml/kiln/kernels"
	"github.com/kiln-ml/kiln/models/data"
	"github.com/kiln-ml/kiln/models/gpt"
	"github.com/kiln-ml/kiln/nn/safetensors"
	"github.com/kiln-ml/kiln/optim"
	"github.com/kiln-ml/kiln/tensor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// momentumSGD is a small stateful optimizer for testing the loop without
// depending on package optim.
type momentumSGD struct {
	params []*autograd.Var
	vel    []*tensor.Tensor
	lr     float64
}

func newSGD(params []*autograd.Var) *momentumSGD {
	o := &momentumSGD{params: params}
	for _, p := range params {
		o.vel = append(o.vel, tensor.New(p.Shape()...))
	}
	return o
}

func (o *momentumSGD) SetLR(lr float64) { o.lr = lr }
func (o *momentumSGD) ZeroGrad() {
	for _, p := range o.params {
		p.ZeroGrad()
	}
}
func (o *momentumSGD) Step() error {
	for i, p := range o.params {
		g := p.Grad()
		if g == nil {
			continue
		}
		v := o.vel[i].Data()
		kernels.Scale(v, v, 0.9)
		kernels.Add(v, v, g.Data())
		kernels.Axpy(p.Value().Data(), float32(-o.lr), v)
	}
	return nil
}
func (o *momentumSGD) SaveState() (map[string]safetensors.Tensor, []byte, error) {
	m := map[string]safetensors.Tensor{}
	for i, p := range o.params {
		m[p.Name()] = safetensors.F32(o.vel[i].Shape(), o.vel[i].Data())
	}
	return m, []byte("sgd"), nil
}
func (o *momentumSGD) LoadState(ts map[string]safetensors.Tensor, blob []byte) error {
	if string(blob) != "sgd" {
		return errors.New("not sgd state")
	}
	for i, p := range o.params {
		t, ok := ts[p.Name()]
		if !ok {
			return errors.New("missing " + p.Name())
		}
		v, err := t.Float32s()
		if err != nil {
			return err
		}
		copy(o.vel[i].Data(), v)
	}
	return nil
}

func tinyDataset(t *testing.T) *data.Dataset {
	text := strings.Repeat("the quick brown fox jumps over the lazy dog. ", 200)
	ids := make([]int, len(text))
	for i := range text {
		ids[i] = int(text[i])
	}
	train, val, err := data.Split(ids, 0.1)
	require.NoError(t, err)
	return &data.Dataset{Train: train, Val: val, VocabSize: 256}
}

func tinyModel(t *testing.T, seed uint64) *gpt.Model {
	m, err := gpt.New(gpt.Config{Vocab: 256, Context: 16, Dim: 16, Layers: 1, Heads: 2, Dropout: 0.1}, rand.New(rand.NewPCG(seed, 1)))
	require.NoError(t, err)
	return m
}

func runCfg(dir string, steps int) Config {
	return Config{Steps: steps, Batch: 4, Context: 16, LR: 0.05, ClipNorm: 1, EvalEvery: 5, EvalBatches: 2, OutDir: dir, Seed: 7}
}

func TestTrainingLowersLoss(t *testing.T) {
	m := tinyModel(t, 1)
	tr, err := New(runCfg(t.TempDir(), 60), m, newSGD(m.Parameters()), tinyDataset(t))
	require.NoError(t, err)
	res, err := tr.Run(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 60, res.Steps)
	assert.Less(t, res.ValLoss, 3.0, "a repeated sentence is easy: validation loss falls well below ln 256 = 5.5")
	_, err = os.Stat(filepath.Join(tr.cfg.OutDir, "loss.png"))
	assert.NoError(t, err)
}

func stripTiming(recs []Record) []Record {
	out := append([]Record(nil), recs...)
	for i := range out {
		out[i].TokensPerSec, out[i].Elapsed = 0, 0
	}
	return out
}

func TestResumeIsBitwiseIdentical(t *testing.T) {
	t.Run("sgd", func(t *testing.T) {
		testResume(t, func(ps []*autograd.Var) Optimizer { return newSGD(ps) })
	})
	for _, name := range []string{"adamw", "lion"} {
		t.Run(name, func(t *testing.T) {
			testResume(t, func(ps []*autograd.Var) Optimizer {
				o, err := optim.New(name, ps, 1e-3, 0.1)
				require.NoError(t, err)
				return o
			})
		})
	}
}

func testResume(t *testing.T, newOpt func([]*autograd.Var) Optimizer) {
	ds := tinyDataset(t)
	straightDir, resumedDir := t.TempDir(), t.TempDir()

	a := tinyModel(t, 1)
	ta, err := New(runCfg(straightDir, 20), a, newOpt(a.Parameters()), ds)
	require.NoError(t, err)
	_, err = ta.Run(context.Background())
	require.NoError(t, err)

	// First half, then a run past the checkpoint that is "interrupted" (its
	// later records must disappear on resume), then the resume.
	b := tinyModel(t, 1)
	cfg := runCfg(resumedDir, 20)
	cfg.CheckpointEvery = 10
	tb, err := New(cfg, b, newOpt(b.Parameters()), ds)
	require.NoError(t, err)
	stopAt := func(n int) func(context.Context, *Trainer, Record) error {
		return func(_ context.Context, tr *Trainer, _ Record) error {
			if tr.Step() == n {
				return errStop
			}
			return nil
		}
	}
	tb.Callbacks = append(tb.Callbacks, stopAt(10))
	_, err = tb.Run(context.Background())
	require.ErrorIs(t, err, errStop)

	c := tinyModel(t, 99) // different weights: all must come from the checkpoint
	tc, err := New(cfg, c, newOpt(c.Parameters()), ds)
	require.NoError(t, err)
	require.NoError(t, tc.Resume(tc.CheckpointPath()))
	assert.Equal(t, 10, tc.Step())
	_, err = tc.Run(context.Background())
	require.NoError(t, err)

	for i, p := range a.Parameters() {
		require.True(t, tensor.Equal(p.Value(), c.Parameters()[i].Value()), "parameter %s differs", p.Name())
	}
	ra, err := ReadMetrics(filepath.Join(straightDir, "metrics.jsonl"))
	require.NoError(t, err)
	rc, err := ReadMetrics(filepath.Join(resumedDir, "metrics.jsonl"))
	require.NoError(t, err)
	assert.Equal(t, stripTiming(ra), stripTiming(rc))
}

var errStop = errors.New("stop requested")

func TestCancelSavesCheckpoint(t *testing.T) {
	m := tinyModel(t, 1)
	dir := t.TempDir()
	cfg := runCfg(dir, 1000)
	cfg.CheckpointEvery = 1000
	tr, err := New(cfg, m, newSGD(m.Parameters()), tinyDataset(t))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	tr.Callbacks = append(tr.Callbacks, func(_ context.Context, tr *Trainer, _ Record) error {
		if tr.Step() == 3 {
			cancel()
		}
		return nil
	})
	res, err := tr.Run(ctx)
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 3, res.Steps)
	c, err := OpenCheckpoint(tr.CheckpointPath())
	require.NoError(t, err)
	assert.Equal(t, 3, c.Step)
}

func TestNonFiniteStopsOrSkips(t *testing.T) {
	ds := tinyDataset(t)
	for _, policy := range []NonFinite{Stop, Skip} {
		m := tinyModel(t, 1)
		cfg := runCfg("", 6)
		cfg.OnNonFinite = policy
		tr, err := New(cfg, m, newSGD(m.Parameters()), ds)
		require.NoError(t, err)
		// Poison one weight at step 3: its gradient and the loss turn NaN.
		w := m.Blocks[0].MLP.FC.Weight
		tr.Callbacks = append(tr.Callbacks, func(_ context.Context, tr *Trainer, _ Record) error {
			if tr.Step() == 3 {
				w.Value().Data()[0] = float32(math.NaN())
			}
			return nil
		})
		res, err := tr.Run(context.Background())
		require.Error(t, err, "skipping cannot recover from a NaN weight")
		assert.Contains(t, err.Error(), "step 4")
		assert.Equal(t, 3, res.Steps)
		if policy == Skip {
			assert.Contains(t, err.Error(), "weight blocks.0.mlp.fc.weight is not finite")
		}
	}
}

// nanLoss makes the loss (and so every gradient) NaN on chosen calls.
type nanLoss struct {
	*gpt.Model
	calls int
	at    map[int]bool
}

func (n *nanLoss) Loss(tape *autograd.Tape, ids, targets []int, B, T int) *autograd.Var {
	n.calls++
	l := n.Model.Loss(tape, ids, targets, B, T)
	if n.at[n.calls] {
		l = autograd.Mul(l, tape.Const(tensor.Scalar(float32(math.NaN()))))
	}
	return l
}

func TestSkipKeepsWeightsFinite(t *testing.T) {
	m := &nanLoss{Model: tinyModel(t, 1), at: map[int]bool{2: true, 4: true}}
	cfg := runCfg("", 6)
	cfg.EvalEvery = 100 // evaluation calls Loss too
	cfg.OnNonFinite = Skip
	tr, err := New(cfg, m, newSGD(m.Parameters()), tinyDataset(t))
	require.NoError(t, err)
	res, err := tr.Run(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 2, res.Skipped)
	assert.Equal(t, "", nonFiniteWeight(m.Parameters()))
}

func TestCorruptCheckpointErrors(t *testing.T) {
	m := tinyModel(t, 1)
	dir := t.TempDir()
	tr, err := New(runCfg(dir, 2), m, newSGD(m.Parameters()), tinyDataset(t))
	require.NoError(t, err)
	_, err = tr.Run(context.Background())
	require.NoError(t, err)
	raw, err := os.ReadFile(tr.CheckpointPath())
	require.NoError(t, err)

	trunc := filepath.Join(dir, "trunc.safetensors")
	require.NoError(t, os.WriteFile(trunc, raw[:len(raw)/2], 0o644))
	assert.Error(t, tr.Resume(trunc))

	flipped := append([]byte(nil), raw...)
	flipped[10] ^= 0xff
	bad := filepath.Join(dir, "bad.safetensors")
	require.NoError(t, os.WriteFile(bad, flipped, 0o644))
	assert.Error(t, tr.Resume(bad))

	// A checkpoint of a model with other shapes.
	other, err := gpt.New(gpt.Config{Vocab: 256, Context: 16, Dim: 32, Layers: 1, Heads: 2}, rand.New(rand.NewPCG(1, 1)))
	require.NoError(t, err)
	to, err := New(runCfg(t.TempDir(), 2), other, newSGD(other.Parameters()), tinyDataset(t))
	require.NoError(t, err)
	err = to.Resume(tr.CheckpointPath())
	require.ErrorContains(t, err, `parameter "wte.weight" has shape [256 16], the model expects [256 32]`)
}

func TestConfigErrors(t *testing.T) {
	m := tinyModel(t, 1)
	_, err := New(Config{Steps: 0, Batch: 1, Context: 4, LR: 1}, m, newSGD(nil), tinyDataset(t))
	assert.ErrorContains(t, err, "steps 0 must be positive")
	_, err = New(Config{Steps: 1, Batch: 1, Context: 4, LR: -1}, m, newSGD(nil), tinyDataset(t))
	assert.ErrorContains(t, err, "learning rate -1 must be a positive number")
	_, err = New(Config{Steps: 1, Batch: 1, Context: 100000, LR: 1}, m, newSGD(nil), tinyDataset(t))
	assert.ErrorContains(t, err, "training data")
}
