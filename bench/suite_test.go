package bench

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/kernels"
)

// tinyConfig is a suite small enough for a test: every optimizer and
// schedule, one rate per sweep, a tenth of the step budgets.
func tinyConfig(t *testing.T, tasks ...string) Config {
	return Config{
		Tasks: tasks, Seeds: []uint64{7}, Sweep: 1, StepsScale: 0.05, Evals: 2,
		Out: t.TempDir(),
	}
}

// numbers is everything of a result that must be reproducible: all but the
// timings, the heap sizes and the thread count.
type numbers struct {
	Key                            string
	Steps                          int
	Diverged                       bool
	FinalTrain, FinalVal           uint64
	StateBytes                     int64
	Loss, LR, GradNorm, GradNormL1 []uint64
	Val                            []uint64
	ValSteps                       []int
	Stages                         []Stage
}

func bitsOf(xs []float64) []uint64 {
	out := make([]uint64, len(xs))
	for i, x := range xs {
		out[i] = math.Float64bits(x)
	}
	return out
}

func numbersOf(r *Result) numbers {
	n := numbers{
		Key: r.Key, Steps: r.Steps, Diverged: r.Diverged,
		FinalTrain: math.Float64bits(float64(r.FinalTrain)), FinalVal: math.Float64bits(float64(r.FinalVal)),
		StateBytes: r.StateBytes, Loss: bitsOf(r.Loss), LR: bitsOf(r.LR), GradNorm: bitsOf(r.GradNorm),
		GradNormL1: bitsOf(r.GradNormL1), Stages: r.Stages,
	}
	for _, v := range r.Val {
		n.Val = append(n.Val, math.Float64bits(float64(v.Loss)))
		n.ValSteps = append(n.ValSteps, v.Step)
	}
	return n
}

func runSuite(t *testing.T, cfg Config) *Report {
	t.Helper()
	s, err := New(cfg)
	require.NoError(t, err)
	rep, err := s.Run(context.Background())
	require.NoError(t, err)
	return rep
}

// TestSameSeedSameNumbers reruns suites covering every task kind,
// optimizer and schedule with one kernel thread and then two, and finds
// every number of every run equal bit for bit.
func TestSameSeedSameNumbers(t *testing.T) {
	synthetic := tinyConfig(t, "mlp", "logreg-rot")
	gpt := tinyConfig(t, "gpt")
	gpt.Optimizers, gpt.Schedules = []string{"fira"}, []string{"cosine", "autolrs"}
	for _, cfg := range []Config{synthetic, gpt} {
		checkRerunAcrossThreads(t, cfg)
	}
}

func checkRerunAcrossThreads(t *testing.T, cfg Config) {
	defer kernels.SetThreads(kernels.Threads())
	kernels.SetThreads(1)
	first := runSuite(t, cfg)
	runs, _ := mustCount(t, cfg)
	require.Len(t, first.Results(), runs)

	kernels.SetThreads(2)
	cfg.Rerun = true
	executed := 0
	cfg.OnRun = func(ev Event) {
		if ev.Result != nil && !ev.Cached {
			executed++
		}
	}
	second := runSuite(t, cfg)
	assert.Equal(t, runs, executed, "Rerun runs everything again")
	require.Len(t, second.Results(), len(first.Results()))
	for i, a := range first.Results() {
		b := second.Results()[i]
		require.Equal(t, a.Key, b.Key)
		assert.Equal(t, 1, a.Threads)
		assert.Equal(t, 2, b.Threads)
		assert.Equal(t, numbersOf(a), numbersOf(b), "run %s", a.Key)
		assert.False(t, a.Diverged, "run %s diverged", a.Key)
		assert.Len(t, a.Loss, a.Settings.Budget.Steps)
	}
	// The stored files hold the same numbers as the runs returned.
	stored, err := OpenStore(filepath.Join(cfg.Out, "results"))
	require.NoError(t, err)
	all, err := stored.All()
	require.NoError(t, err)
	require.Len(t, all, runs)
	for _, r := range all {
		var match *Result
		for _, x := range second.Results() {
			if x.Key == r.Key {
				match = x
			}
		}
		require.NotNil(t, match, r.Key)
		assert.Equal(t, numbersOf(match), numbersOf(r))
	}
}

func mustCount(t *testing.T, cfg Config) (int, int) {
	s, err := New(cfg)
	require.NoError(t, err)
	return s.Count()
}

// TestInterruptedSuiteKeepsFinishedRuns cancels a suite in the middle of a
// run, finds the runs finished before it stored and the interrupted one
// not, and resumes: the stored runs are loaded, the others run, and the
// results equal those of a suite that was never interrupted.
func TestInterruptedSuiteKeepsFinishedRuns(t *testing.T) {
	cfg := Config{
		Tasks: []string{"logreg-iso", "logreg-ill"}, Optimizers: []string{"adamw", "fira"}, Seeds: []uint64{1, 2},
		Sweep: 2, StepsScale: 0.1, Evals: 2, Out: t.TempDir(),
	}
	total, _ := mustCount(t, cfg)
	const finished = 9
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	interrupted := cfg
	interrupted.OnRun = func(ev Event) {
		if ev.Result == nil && ev.Index == finished+1 {
			cancel() // the run starting now sees it at its first step
		}
	}
	s, err := New(interrupted)
	require.NoError(t, err)
	_, err = s.Run(ctx)
	require.ErrorIs(t, err, context.Canceled)
	stored, err := s.Store().All()
	require.NoError(t, err)
	assert.Len(t, stored, finished)
	entries, err := os.ReadDir(s.Store().Dir())
	require.NoError(t, err)
	assert.Len(t, entries, finished, "no temporary or partial files are left")

	resumed := cfg
	var cached, executed int
	resumed.OnRun = func(ev Event) {
		switch {
		case ev.Result == nil:
		case ev.Cached:
			cached++
		default:
			executed++
		}
	}
	rep := runSuite(t, resumed)
	assert.Equal(t, finished, cached)
	assert.Equal(t, total-finished, executed)

	fresh := cfg
	fresh.Out = t.TempDir()
	want := runSuite(t, fresh)
	require.Len(t, rep.Results(), len(want.Results()))
	for i := range want.Results() {
		assert.Equal(t, numbersOf(want.Results()[i]), numbersOf(rep.Results()[i]))
	}
	assert.Equal(t, want.Rows, stripTimes(rep.Rows, want.Rows))
}

// stripTimes returns got with the timing and heap fields of want, which
// differ between runs.
func stripTimes(got, want []Row) []Row {
	out := make([]Row, len(got))
	for i := range got {
		out[i] = got[i]
		if i < len(want) {
			out[i].StepSeconds, out[i].PeakHeapBytes, out[i].LiveHeapBytes = want[i].StepSeconds, want[i].PeakHeapBytes, want[i].LiveHeapBytes
		}
	}
	return out
}

// TestKeysFollowSettings checks that a changed budget or optimizer setting
// gives a new key, and that the refined run depends on its linear run.
func TestKeysFollowSettings(t *testing.T) {
	tasks, err := NewTasks([]string{"logreg-iso"}, TaskOptions{})
	require.NoError(t, err)
	task := tasks[0]
	b := task.Budget(1)
	base := Settings{
		Version: FormatVersion, Spec: RunSpec{"logreg-iso", "galore", "cosine", 0.1, 1}, Task: task.Settings(), Budget: b,
		Optimizer: optimizerSettings("galore", task, b, 0, 0), Schedule: ScheduleSettings{Name: "cosine", Warmup: b.Warmup},
	}
	k0, err := Key(base)
	require.NoError(t, err)
	again, err := Key(base)
	require.NoError(t, err)
	assert.Equal(t, k0, again)
	assert.Contains(t, k0, "logreg-iso_galore_cosine_lr0.1_seed1_")

	changes := map[string]func(s *Settings){
		"steps":    func(s *Settings) { s.Budget = task.Budget(0.5) },
		"rank":     func(s *Settings) { s.Optimizer.Rank++ },
		"wd":       func(s *Settings) { s.Optimizer.WeightDecay = 0.1 },
		"seed":     func(s *Settings) { s.Spec.Seed = 2 },
		"version":  func(s *Settings) { s.Version++ },
		"numerics": func(s *Settings) { s.Numerics = "another build" },
		"warmup":   func(s *Settings) { s.Schedule.Warmup++ },
		"from":     func(s *Settings) { s.Schedule.From = "x" },
		"task":     func(s *Settings) { s.Task = map[string]any{"dim": 1} },
	}
	for name, change := range changes {
		s := base
		s.Optimizer = base.Optimizer
		change(&s)
		k, err := Key(s)
		require.NoError(t, err)
		assert.NotEqual(t, k0, k, name)
	}
}

// TestStoreRejectsEditedResults checks that a result whose settings no
// longer hash to its key is an error, not a silent reuse.
func TestStoreRejectsEditedResults(t *testing.T) {
	cfg := Config{Tasks: []string{"logreg-iso"}, Optimizers: []string{"sgd"}, Schedules: []string{"cosine"},
		Seeds: []uint64{1}, Sweep: 1, StepsScale: 0.1, Out: t.TempDir()}
	rep := runSuite(t, cfg)
	require.Len(t, rep.Results(), 1)
	r := rep.Results()[0]
	s, err := OpenStore(filepath.Join(cfg.Out, "results"))
	require.NoError(t, err)
	got, err := s.Load(r.Key)
	require.NoError(t, err)
	require.NotNil(t, got)
	assert.Equal(t, numbersOf(r), numbersOf(got))

	path := filepath.Join(s.Dir(), r.Key+".json")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	edited := []byte(replaceOnce(string(b), `"momentum":0.9`, `"momentum":0.5`))
	require.NotEqual(t, b, edited)
	require.NoError(t, os.WriteFile(path, edited, 0o644))
	_, err = s.Load(r.Key)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--rerun")

	missing, err := s.Load("nothing-here")
	require.NoError(t, err)
	assert.Nil(t, missing)
}

func replaceOnce(s, old, new string) string {
	for i := 0; i+len(old) <= len(s); i++ {
		if s[i:i+len(old)] == old {
			return s[:i] + new + s[i+len(old):]
		}
	}
	return s
}

// TestConfigErrors checks that bad settings are errors saying what was
// expected.
func TestConfigErrors(t *testing.T) {
	for name, cfg := range map[string]Config{
		"task":      {Tasks: []string{"cifar"}},
		"optimizer": {Optimizers: []string{"adam2"}},
		"schedule":  {Schedules: []string{"step"}},
		"seeds":     {Seeds: []uint64{1, 1}},
		"scale":     {StepsScale: -1},
		"sweep":     {Sweep: 20},
		"rank":      {Rank: -2},
		"margin":    {Margin: 2},
		"evals":     {Evals: -1},
	} {
		cfg.Out = t.TempDir()
		_, err := New(cfg)
		assert.Error(t, err, name)
	}
	_, err := New(Config{Tasks: []string{"cifar"}, Out: t.TempDir()})
	assert.ErrorContains(t, err, "gpt, mlp")
}

// TestDivergedRunIsRecorded runs SGD at a rate that blows up, and finds the
// run marked diverged with an infinite final loss, and the sweep choosing
// a rate that did not diverge.
func TestDivergedRunIsRecorded(t *testing.T) {
	tasks, err := NewTasks([]string{"logreg-iso"}, TaskOptions{})
	require.NoError(t, err)
	task := tasks[0]
	b := task.Budget(0.2)
	plan := func(lr float64) *runPlan {
		s := Settings{Version: FormatVersion, Spec: RunSpec{"logreg-iso", "sgd", "cosine", lr, 1}, Task: task.Settings(), Budget: b,
			Optimizer: optimizerSettings("sgd", task, b, 0, 0), Schedule: ScheduleSettings{Name: "cosine", Warmup: b.Warmup}}
		k, err := Key(s)
		require.NoError(t, err)
		return &runPlan{task: task, settings: s, key: k}
	}
	bad, err := execute(context.Background(), plan(3e38))
	require.NoError(t, err)
	assert.True(t, bad.Diverged)
	assert.Positive(t, bad.DivergedStep)
	assert.Less(t, bad.Steps, b.Steps)
	assert.True(t, math.IsInf(float64(bad.FinalVal), 1))
	good, err := execute(context.Background(), plan(0.1))
	require.NoError(t, err)
	assert.False(t, good.Diverged)

	rep := Summarize([]*Result{bad, good}, SummaryOptions{})
	require.Len(t, rep.Rows, 1)
	assert.Equal(t, 0.1, rep.Rows[0].LR)
	assert.Equal(t, 1, rep.Rows[0].Sweep[1].Diverged)
}

func TestCancelledBeforeStart(t *testing.T) {
	cfg := tinyConfig(t, "logreg-iso")
	s, err := New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = s.Run(ctx)
	assert.True(t, errors.Is(err, context.Canceled))
	all, err := s.Store().All()
	require.NoError(t, err)
	assert.Empty(t, all)
}

// TestNumericsFingerprint checks that the fingerprint of the numerics is
// stable and does not depend on the number of kernel threads.
func TestNumericsFingerprint(t *testing.T) {
	defer kernels.SetThreads(kernels.Threads())
	kernels.SetThreads(1)
	one, err := Numerics()
	require.NoError(t, err)
	kernels.SetThreads(2)
	two, err := Numerics()
	require.NoError(t, err)
	assert.Equal(t, one, two)
	assert.Len(t, one, 16)
	t.Logf("numerics fingerprint on the %s kernels: %s", kernels.Path(), one)
}
