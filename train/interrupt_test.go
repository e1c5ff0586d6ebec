package train

import (
	"context"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/kiln-ml/kiln/autograd"
	"github.com/kiln-ml/kiln/internal/testhook"
	"github.com/kiln-ml/kiln/models/gpt"
	"github.com/kiln-ml/kiln/optim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hookModel calls onLoss before every forward pass, training or
// evaluation, so that a test can interrupt a run in the middle of a step.
type hookModel struct {
	*gpt.Model
	onLoss func()
}

func (h hookModel) Loss(tape *autograd.Tape, ids, targets []int, B, T int) *autograd.Var {
	h.onLoss()
	return h.Model.Loss(tape, ids, targets, B, T)
}

const interruptSteps = 12

// interruptRun makes the run the interruption tests stop and resume: AdamW
// with dropout, evaluation every 5 steps, a checkpoint every 4.
func interruptRun(t *testing.T, dir string, seed uint64, onLoss func()) (*Trainer, *gpt.Model) {
	t.Helper()
	m := tinyModel(t, seed)
	opt := newAdamW(t, m)
	cfg := runCfg(dir, interruptSteps)
	cfg.CheckpointEvery = 4
	var model Model = m
	if onLoss != nil {
		model = hookModel{m, onLoss}
	}
	tr, err := New(cfg, model, opt, tinyDataset(t))
	require.NoError(t, err)
	return tr, m
}

func newAdamW(t *testing.T, m *gpt.Model) Optimizer {
	t.Helper()
	o, err := optim.New("adamw", m.Parameters(), 1e-3, 0.1)
	require.NoError(t, err)
	return o
}

// straightRun is the uninterrupted run every interrupted one must match.
func straightRun(t *testing.T) (*gpt.Model, []Record) {
	t.Helper()
	tr, m := interruptRun(t, t.TempDir(), 1, nil)
	_, err := tr.Run(context.Background())
	require.NoError(t, err)
	recs, err := ReadMetrics(tr.MetricsPath())
	require.NoError(t, err)
	return m, recs
}

// resumeAndCompare checks that the checkpoint in dir loads, is at step
// want, and that resuming from it (into a model with other weights) ends
// exactly where the straight run ended.
func resumeAndCompare(t *testing.T, dir string, want int, straight *gpt.Model, straightRecs []Record) {
	t.Helper()
	path := filepath.Join(dir, "checkpoint.safetensors")
	c, err := OpenCheckpoint(path)
	require.NoError(t, err)
	assert.Equal(t, want, c.Step)
	probe := tinyModel(t, 5)
	require.NoError(t, c.LoadParams(probe.Parameters()), "the checkpoint's weights load into a fresh model")

	tr, m := interruptRun(t, dir, 99, nil)
	require.NoError(t, tr.Resume(path))
	_, err = tr.Run(context.Background())
	require.NoError(t, err)
	for i, p := range straight.Parameters() {
		require.True(t, bitwiseEqual(p.Value().Data(), m.Parameters()[i].Value().Data()), "parameter %s differs from the uninterrupted run", p.Name())
	}
	recs, err := ReadMetrics(tr.MetricsPath())
	require.NoError(t, err)
	assert.Equal(t, stripTiming(straightRecs), stripTiming(recs))
}

// TestCancelMidStepThenResume cancels the context inside a forward pass,
// training or evaluation, at seeded random points: the run stops after the
// step, its checkpoint loads, and resuming ends bitwise where an
// uninterrupted run ends.
func TestCancelMidStepThenResume(t *testing.T) {
	straight, recs := straightRun(t)
	rng := rand.New(rand.NewPCG(2024, 10))
	// Steps 1-5 make forward passes 1-5, the evaluation after step 5
	// passes 6-7, steps 6-10 passes 8-12, the evaluation 13-14, steps 11
	// and 12 passes 15 and 16, the final evaluation 17-18. A cancellation
	// during step 12 comes too late: the run is complete.
	for _, k := range []int{1, 6, 15, 2 + rng.IntN(13), 17} {
		dir := t.TempDir()
		ctx, cancel := context.WithCancel(context.Background())
		calls := 0
		tr, _ := interruptRun(t, dir, 1, func() {
			calls++
			if calls == k {
				cancel()
			}
		})
		res, err := tr.Run(ctx)
		cancel()
		if k >= 16 {
			require.NoError(t, err, "cancelled in forward pass %d", k)
			assert.Equal(t, interruptSteps, res.Steps)
			continue
		}
		require.ErrorIs(t, err, context.Canceled, "cancelled in forward pass %d", k)
		require.Less(t, res.Steps, interruptSteps, "cancelled in forward pass %d", k)
		resumeAndCompare(t, dir, res.Steps, straight, recs)
	}
}

// TestCancelFromAnotherGoroutine cancels from outside the loop while it
// runs, as a service shutting down would; where the loop notices is up to
// the scheduler, and the outcome must not depend on it.
func TestCancelFromAnotherGoroutine(t *testing.T) {
	straight, recs := straightRun(t)
	rng := rand.New(rand.NewPCG(7, 7))
	for range 3 {
		k := int64(1 + rng.IntN(16))
		dir := t.TempDir()
		ctx, cancel := context.WithCancel(context.Background())
		reached := make(chan struct{})
		var calls atomic.Int64
		tr, _ := interruptRun(t, dir, 1, func() {
			if calls.Add(1) == k {
				close(reached)
			}
		})
		go func() {
			<-reached
			cancel()
		}()
		res, err := tr.Run(ctx)
		cancel()
		if err == nil {
			// The loop finished before it noticed: nothing to resume.
			assert.Equal(t, interruptSteps, res.Steps)
			continue
		}
		require.ErrorIs(t, err, context.Canceled)
		resumeAndCompare(t, dir, res.Steps, straight, recs)
	}
}

// diskFull passes the first n bytes of a file through and then fails as a
// full disk does.
type diskFull struct {
	w io.Writer
	n int
}

func (d *diskFull) Write(p []byte) (int, error) {
	if len(p) <= d.n {
		d.n -= len(p)
		return d.w.Write(p)
	}
	k, err := d.w.Write(p[:d.n])
	d.n -= k
	if err == nil {
		err = syscall.ENOSPC
	}
	return k, err
}

// fillDiskAfter makes every checkpoint write after the first n fail part
// way through, as if the disk had filled up.
func fillDiskAfter(t *testing.T, n int) {
	var writes atomic.Int64
	restore := testhook.SetFileWriter(func(path string, w io.Writer) io.Writer {
		if writes.Add(1) <= int64(n) {
			return w
		}
		return &diskFull{w: w, n: 1000}
	})
	t.Cleanup(restore)
}

// onlyCheckpoint fails unless dir holds nothing but the run's files: no
// temporary file is left behind.
func onlyCheckpoint(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		assert.Contains(t, []string{"checkpoint.safetensors", "metrics.jsonl", "loss.png"}, e.Name(), "left in the output directory")
	}
}

// TestFullDiskDuringCheckpoint fills the disk while the third periodic
// checkpoint is written: the run stops with an error that names the file
// and the cause, and the second checkpoint is intact and resumes.
func TestFullDiskDuringCheckpoint(t *testing.T) {
	straight, recs := straightRun(t)
	dir := t.TempDir()
	tr, _ := interruptRun(t, dir, 1, nil)
	fillDiskAfter(t, 2)
	res, err := tr.Run(context.Background())
	require.Error(t, err)
	assert.True(t, errors.Is(err, syscall.ENOSPC), "error %v does not wrap ENOSPC", err)
	assert.Contains(t, err.Error(), filepath.Join(dir, "checkpoint.safetensors"))
	assert.Contains(t, err.Error(), "no space left on device")
	assert.Equal(t, 12, res.Steps, "the failed save is the one at the end of the run")
	onlyCheckpoint(t, dir)
	testhook.SetFileWriter(nil)
	resumeAndCompare(t, dir, 8, straight, recs)
}

// TestFullDiskWhenInterrupted fills the disk while the checkpoint of an
// interrupted run is written: the error says both what stopped the run and
// that the save failed, and the previous checkpoint still resumes.
func TestFullDiskWhenInterrupted(t *testing.T) {
	straight, recs := straightRun(t)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tr, _ := interruptRun(t, dir, 1, nil)
	tr.Callbacks = append(tr.Callbacks, func(_ context.Context, tr *Trainer, _ Record) error {
		if tr.Step() == 6 {
			cancel()
		}
		return nil
	})
	fillDiskAfter(t, 1)
	_, err := tr.Run(ctx)
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	assert.True(t, errors.Is(err, syscall.ENOSPC), "error %v does not wrap ENOSPC", err)
	onlyCheckpoint(t, dir)
	testhook.SetFileWriter(nil)
	resumeAndCompare(t, dir, 4, straight, recs)
}

// TestCrashDuringCheckpointLeavesItIntact simulates a crash in the middle
// of writing a checkpoint, which leaves a partial temporary file beside
// the previous checkpoint: the checkpoint loads, the resumed run ignores
// the leftovers and removes them, and ends where an uninterrupted run ends.
func TestCrashDuringCheckpointLeavesItIntact(t *testing.T) {
	straight, recs := straightRun(t)
	dir := t.TempDir()
	tr, _ := interruptRun(t, dir, 1, nil)
	tr.Callbacks = append(tr.Callbacks, func(_ context.Context, tr *Trainer, _ Record) error {
		if tr.Step() == 5 {
			return errStop
		}
		return nil
	})
	_, err := tr.Run(context.Background())
	require.ErrorIs(t, err, errStop)
	good, err := os.ReadFile(tr.CheckpointPath())
	require.NoError(t, err)
	// What a crash part way through the next saves leaves behind.
	leftovers := map[string][]byte{
		".checkpoint.safetensors.tmp-123456": good[:len(good)/3],
		".checkpoint.safetensors.tmp-7":      {},
		".metrics.jsonl.tmp-99":              []byte(`{"step":1,"lo`),
	}
	for name, b := range leftovers {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o644))
	}
	// A file of the user's that merely looks alike is not touched.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.tmp-1"), []byte("mine"), 0o644))
	resumeAndCompare(t, dir, 5, straight, recs)
	for name := range leftovers {
		_, err := os.Stat(filepath.Join(dir, name))
		assert.True(t, errors.Is(err, os.ErrNotExist), "%s was not cleaned up", name)
	}
	_, err = os.Stat(filepath.Join(dir, "notes.tmp-1"))
	assert.NoError(t, err)
}

func bitwiseEqual(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}
