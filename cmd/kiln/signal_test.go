package main

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/kiln-ml/kiln/internal/testhook"
	"github.com/kiln-ml/kiln/models/gpt"
	"github.com/kiln-ml/kiln/train"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The tests below run kiln as a separate process: this test binary, which
// runs main instead of the tests when runMainEnv is set. It is the binary
// under test, built with the same flags and tags as the tests.
const (
	runMainEnv  = "KILN_TEST_RUN_MAIN"
	fullDiskEnv = "KILN_TEST_FULL_DISK_AFTER" // fail every checkpoint write after this many
)

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		if n, err := strconv.Atoi(os.Getenv(fullDiskEnv)); err == nil {
			var writes atomic.Int64
			testhook.SetFileWriter(func(_ string, w io.Writer) io.Writer {
				if writes.Add(1) <= int64(n) {
					return w
				}
				return fullDisk{}
			})
		}
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// fullDisk fails every write as a full disk does.
type fullDisk struct{}

func (fullDisk) Write([]byte) (int, error) { return 0, syscall.ENOSPC }

// kilnProcess is a running kiln command.
type kilnProcess struct {
	cmd    *exec.Cmd
	stderr syncBuffer
	done   chan struct{}
	err    error
}

// syncBuffer is a bytes.Buffer that a test may read while the process
// writes to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func startKiln(t *testing.T, env []string, args ...string) *kilnProcess {
	t.Helper()
	p := &kilnProcess{cmd: exec.Command(os.Args[0], args...), done: make(chan struct{})}
	p.cmd.Env = append(append(os.Environ(), runMainEnv+"=1"), env...)
	p.cmd.Stderr = &p.stderr
	require.NoError(t, p.cmd.Start())
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// wait returns the exit code; a run that does not end within a minute
// (it should take well under a second) is a failure, not a hang.
func (p *kilnProcess) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(time.Minute):
		p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("kiln %v did not end; stderr:\n%s", p.cmd.Args[1:], p.stderr.String())
	}
	var exit *exec.ExitError
	if errors.As(p.err, &exit) {
		return exit.ExitCode()
	}
	require.NoError(t, p.err)
	return 0
}

// runKiln runs kiln to the end and returns its exit code and stderr.
func runKiln(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	p := startKiln(t, env, args...)
	code := p.wait(t)
	return code, p.stderr.String()
}

// tinyCorpus writes a small text to train on.
func tinyCorpus(t *testing.T) string {
	t.Helper()
	words := strings.Fields("of the reflexions refractions inflexions and colours of light which differ in degrees of refrangibility")
	rng := rand.New(rand.NewPCG(8, 9))
	var b strings.Builder
	for b.Len() < 12000 {
		b.WriteString(words[rng.IntN(len(words))])
		b.WriteByte(" \n"[rng.IntN(2)])
	}
	path := filepath.Join(t.TempDir(), "corpus.txt")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
	return path
}

// tinyTrain is a run of a few milliseconds a step.
func tinyTrain(corpus, out string, extra ...string) []string {
	return append([]string{"train", "--data", corpus, "--out", out, "--dim", "32", "--layers", "1", "--heads", "2",
		"--context", "32", "--batch", "2", "--sample", "0", "--dropout", "0.1"}, extra...)
}

// loadCheckpoint opens the checkpoint in dir as kiln generate would and
// returns its step.
func loadCheckpoint(t *testing.T, dir string) int {
	t.Helper()
	m, c, _, err := openModel(filepath.Join(dir, "checkpoint.safetensors"))
	require.NoError(t, err)
	require.NoError(t, c.LoadParams(m.Parameters()))
	return c.Step
}

// waitFor polls until ready returns true, failing if the process ends
// first or a minute passes.
func waitFor(t *testing.T, p *kilnProcess, what string, ready func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if ready() {
			return
		}
		select {
		case <-p.done:
			t.Fatalf("kiln ended before %s: %v\n%s", what, p.err, p.stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("no %s after a minute; stderr:\n%s", what, p.stderr.String())
}

// waitForCheckpoint waits until the run in dir has saved a checkpoint
// (its metrics are flushed just before), so that it is well into training.
func waitForCheckpoint(t *testing.T, p *kilnProcess, dir string) {
	t.Helper()
	waitFor(t, p, "a checkpoint", func() bool {
		recs, err := train.ReadMetrics(filepath.Join(dir, "metrics.jsonl"))
		if err != nil || len(recs) == 0 {
			return false
		}
		_, err = os.Stat(filepath.Join(dir, "checkpoint.safetensors"))
		return err == nil
	})
}

var interruptedRE = regexp.MustCompile(`interrupted at step (\d+); checkpoint saved to (\S+)\nresume with: kiln train --resume `)

// TestTrainSignals stops a long run with SIGINT and with SIGTERM: kiln
// exits with status 130 and says where it saved, the checkpoint loads, and
// --resume auto continues from it to the end.
func TestTrainSignals(t *testing.T) {
	corpus := tinyCorpus(t)
	for _, sig := range []os.Signal{os.Interrupt, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			out := t.TempDir()
			p := startKiln(t, nil, tinyTrain(corpus, out, "--steps", "100000", "--eval-every", "5", "--checkpoint-every", "5")...)
			waitForCheckpoint(t, p, out)
			require.NoError(t, p.cmd.Process.Signal(sig))
			code := p.wait(t)
			stderr := p.stderr.String()
			assert.Equal(t, 130, code, stderr)
			m := interruptedRE.FindStringSubmatch(stderr)
			require.NotNil(t, m, "no interruption message in:\n%s", stderr)
			step, err := strconv.Atoi(m[1])
			require.NoError(t, err)
			assert.Equal(t, filepath.Join(out, "checkpoint.safetensors"), m[2])
			assert.Equal(t, step, loadCheckpoint(t, out))
			recs, err := train.ReadMetrics(filepath.Join(out, "metrics.jsonl"))
			require.NoError(t, err)
			require.Len(t, recs, step, "one metrics record per step done")

			code, stderr = runKiln(t, nil, tinyTrain(corpus, out, "--steps", strconv.Itoa(step+3), "--resume", "auto")...)
			require.Equal(t, 0, code, stderr)
			assert.Contains(t, stderr, "resuming from "+filepath.Join(out, "checkpoint.safetensors")+" at step "+strconv.Itoa(step))
			assert.Equal(t, step+3, loadCheckpoint(t, out))
		})
	}
}

// TestTrainKilled kills a run outright (a crash, an out-of-memory kill)
// at a moment that depends on the scheduler: whatever it was doing, the
// checkpoint in --out loads and --resume auto finishes the run, leaving no
// temporary file behind.
func TestTrainKilled(t *testing.T) {
	corpus := tinyCorpus(t)
	out := t.TempDir()
	// A checkpoint every step, so that the kill likely lands in a save.
	p := startKiln(t, nil, tinyTrain(corpus, out, "--steps", "100000", "--eval-every", "1000", "--checkpoint-every", "1")...)
	waitForCheckpoint(t, p, out)
	require.NoError(t, p.cmd.Process.Kill())
	p.wait(t)
	step := loadCheckpoint(t, out)
	require.Positive(t, step)

	code, stderr := runKiln(t, nil, tinyTrain(corpus, out, "--steps", strconv.Itoa(step+2), "--resume", "auto")...)
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, step+2, loadCheckpoint(t, out))
	entries, err := os.ReadDir(out)
	require.NoError(t, err)
	for _, e := range entries {
		assert.NotContains(t, e.Name(), ".tmp-", "temporary file left in --out")
	}
}

// TestTrainFullDisk fills the disk while kiln writes its second checkpoint,
// once at a periodic save and once at the save of an interrupted run: kiln
// says that the save failed and why, does not claim a checkpoint it did not
// write, and the first checkpoint still loads.
func TestTrainFullDisk(t *testing.T) {
	corpus := tinyCorpus(t)
	full := []string{fullDiskEnv + "=1"}

	out := t.TempDir()
	code, stderr := runKiln(t, full, tinyTrain(corpus, out, "--steps", "10", "--checkpoint-every", "5")...)
	assert.Equal(t, 1, code, stderr)
	assert.Contains(t, stderr, "kiln train: train: checkpoint: safetensors: writing "+filepath.Join(out, "checkpoint.safetensors")+": no space left on device")
	assert.Equal(t, 5, loadCheckpoint(t, out))

	// A run resumed from a checkpoint at step 5 that saves nothing until
	// it is interrupted, when the disk is full.
	out = t.TempDir()
	code, stderr = runKiln(t, nil, tinyTrain(corpus, out, "--steps", "5")...)
	require.Equal(t, 0, code, stderr)
	p := startKiln(t, []string{fullDiskEnv + "=0"}, tinyTrain(corpus, out, "--steps", "100000", "--resume", "auto",
		"--eval-every", "1000", "--checkpoint-every", "100000")...)
	waitFor(t, p, "step 6", func() bool { return strings.Contains(p.stderr.String(), "\nstep 6/100000 ") })
	require.NoError(t, p.cmd.Process.Signal(os.Interrupt))
	code = p.wait(t)
	stderr = p.stderr.String()
	assert.Equal(t, 130, code, stderr)
	assert.NotContains(t, stderr, "; checkpoint saved to", "kiln claims a checkpoint it could not write")
	assert.Regexp(t, `interrupted at step \d+, but its checkpoint could not be saved`, stderr)
	assert.Contains(t, stderr, "the last checkpoint saved is at step 5 in "+filepath.Join(out, "checkpoint.safetensors"))
	assert.Contains(t, stderr, "no space left on device")
	assert.Equal(t, 5, loadCheckpoint(t, out))
}

// TestTrainThreadsBitwise trains the same tiny run on one thread and on two
// and compares the checkpoints byte for byte: weights, optimizer state,
// sampler and dropout states.
func TestTrainThreadsBitwise(t *testing.T) {
	corpus := tinyCorpus(t)
	var files [][]byte
	for _, threads := range []string{"1", "2"} {
		out := t.TempDir()
		code, stderr := runKiln(t, nil, tinyTrain(corpus, out, "--steps", "6", "--threads", threads)...)
		require.Equal(t, 0, code, stderr)
		b, err := os.ReadFile(filepath.Join(out, "checkpoint.safetensors"))
		require.NoError(t, err)
		files = append(files, b)
		var m *gpt.Model
		m, _, _, err = openModel(filepath.Join(out, "checkpoint.safetensors"))
		require.NoError(t, err)
		assert.Equal(t, 32, m.Config.Dim)
	}
	assert.True(t, bytes.Equal(files[0], files[1]), "the checkpoints of --threads 1 and --threads 2 differ")
}
