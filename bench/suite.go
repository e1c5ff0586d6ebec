package bench

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// ScheduleNames lists the schedules the suite compares: cosine and linear
// decay (each with 10% linear warm-up, decaying to 0), the refined schedule
// built from the gradient norms of the linear-decay run of the same rate
// and seed, and AutoLRS.
func ScheduleNames() []string { return []string{"cosine", "linear", "refined", "autolrs"} }

// Config selects a suite's tasks, optimizers, schedules, seeds and budget.
// Zero fields take the defaults noted beside them.
type Config struct {
	Tasks       []string    // task names or "logreg"/"all" (default all; see TaskNames)
	Optimizers  []string    // default all (see OptimizerNames)
	Schedules   []string    // default all (see ScheduleNames)
	Seeds       []uint64    // default 1, 2, 3
	StepsScale  float64     // multiplies every task's step budget (default 1)
	Evals       int         // validations per run besides the one at step 0 (default 10)
	Sweep       int         // learning rates per optimizer, a factor 2 apart (default 3)
	Rank        int         // rank of the low-rank optimizers (default: each task's, a quarter of its width)
	WeightDecay float64     // weight decay of every optimizer (default 0)
	Margin      float64     // relative tolerance of the "matches" claims (default 0.01)
	Out         string      // output directory (default runs/bench); results go to Out/results
	Rerun       bool        // run again even if a result is stored, replacing it
	Corpus      string      // text of the GPT task (default: the default corpus)
	OnRun       func(Event) // called before and after every run
}

// DefaultSeeds are the seeds of a suite without Config.Seeds.
var DefaultSeeds = []uint64{1, 2, 3}

// Event reports the progress of a suite: a run about to start (Result nil)
// or finished (Result set; Cached if it was loaded from the store).
type Event struct {
	Index, Total int // 1-based index of the run, and the number planned
	Spec         RunSpec
	Key          string
	Steps        int // the run's step budget
	Result       *Result
	Cached       bool
	Elapsed      time.Duration // wall time of the run (0 if cached)
}

// Suite is a planned benchmark: Run executes it.
type Suite struct {
	cfg      Config
	tasks    []Task
	store    *Store
	numerics string
}

// New checks cfg, fills in its defaults and opens the result store.
func New(cfg Config) (*Suite, error) {
	if len(cfg.Tasks) == 0 {
		cfg.Tasks = []string{"all"}
	}
	tasks, err := NewTasks(cfg.Tasks, TaskOptions{Corpus: cfg.Corpus})
	if err != nil {
		return nil, err
	}
	cfg.Tasks = cfg.Tasks[:0:0]
	for _, t := range tasks {
		cfg.Tasks = append(cfg.Tasks, t.Name())
	}
	if cfg.Optimizers, err = selectNames("optimizer", cfg.Optimizers, OptimizerNames()); err != nil {
		return nil, err
	}
	if cfg.Schedules, err = selectNames("schedule", cfg.Schedules, ScheduleNames()); err != nil {
		return nil, err
	}
	if len(cfg.Seeds) == 0 {
		cfg.Seeds = slices.Clone(DefaultSeeds)
	}
	for i, s := range cfg.Seeds {
		if slices.Contains(cfg.Seeds[:i], s) {
			return nil, fmt.Errorf("bench: seed %d is listed twice", s)
		}
	}
	if cfg.StepsScale == 0 {
		cfg.StepsScale = 1
	}
	if !(cfg.StepsScale > 0) || math.IsInf(cfg.StepsScale, 0) {
		return nil, fmt.Errorf("bench: steps scale %v must be a positive number", cfg.StepsScale)
	}
	if cfg.Evals == 0 {
		cfg.Evals = 10
	}
	if cfg.Evals < 1 {
		return nil, fmt.Errorf("bench: %d validations per run; want at least 1", cfg.Evals)
	}
	if cfg.Sweep == 0 {
		cfg.Sweep = 3
	}
	if cfg.Sweep < 1 || cfg.Sweep > 9 {
		return nil, fmt.Errorf("bench: a sweep of %d learning rates; want 1 to 9", cfg.Sweep)
	}
	if cfg.Rank < 0 {
		return nil, fmt.Errorf("bench: rank %d must be positive (0 takes each task's default)", cfg.Rank)
	}
	if !(cfg.WeightDecay >= 0) || math.IsInf(cfg.WeightDecay, 0) {
		return nil, fmt.Errorf("bench: weight decay %v must be a finite number >= 0", cfg.WeightDecay)
	}
	if cfg.Margin == 0 {
		cfg.Margin = 0.01
	}
	if !(cfg.Margin > 0 && cfg.Margin < 1) {
		return nil, fmt.Errorf("bench: margin %v must be in (0, 1)", cfg.Margin)
	}
	if cfg.Out == "" {
		cfg.Out = filepath.Join("runs", "bench")
	}
	numerics, err := Numerics()
	if err != nil {
		return nil, err
	}
	store, err := OpenStore(filepath.Join(cfg.Out, "results"))
	if err != nil {
		return nil, err
	}
	return &Suite{cfg: cfg, tasks: tasks, store: store, numerics: numerics}, nil
}

// selectNames checks names against known (empty: all of known) and returns
// them in known's order, without duplicates.
func selectNames(what string, names, known []string) ([]string, error) {
	if len(names) == 0 {
		return slices.Clone(known), nil
	}
	var out []string
	for _, k := range known {
		if slices.Contains(names, k) {
			out = append(out, k)
		}
	}
	for _, n := range names {
		if !slices.Contains(known, n) {
			return nil, fmt.Errorf("bench: unknown %s %q (want one of %s)", what, n, strings.Join(known, ", "))
		}
	}
	return out, nil
}

// Config returns the suite's configuration with its defaults filled in.
func (s *Suite) Config() Config { return s.cfg }

// Tasks returns the suite's tasks.
func (s *Suite) Tasks() []Task { return s.tasks }

// Numerics returns the fingerprint of this build's numerics that the
// suite's keys include (see Numerics).
func (s *Suite) Numerics() string { return s.numerics }

// Store returns the suite's result store.
func (s *Suite) Store() *Store { return s.store }

func (s *Suite) has(schedule string) bool { return slices.Contains(s.cfg.Schedules, schedule) }

// sweepSchedules are the fixed schedules run at every learning rate of the
// sweep: the selected ones, and linear decay when refined needs it.
func (s *Suite) sweepSchedules() []string {
	var out []string
	for _, n := range []string{"cosine", "linear"} {
		if s.has(n) || (n == "linear" && s.has("refined")) {
			out = append(out, n)
		}
	}
	return out
}

// Count returns the number of runs the suite plans and their total steps.
func (s *Suite) Count() (runs, steps int) {
	per := s.cfg.Sweep*(len(s.sweepSchedules())+btoi(s.has("refined"))) + btoi(s.has("autolrs"))
	for _, t := range s.tasks {
		n := per * len(s.cfg.Optimizers) * len(s.cfg.Seeds)
		runs += n
		steps += n * s.budget(t).Steps
	}
	return runs, steps
}

// budget returns a task's budget in this suite: scaled, with Evals
// validations.
func (s *Suite) budget(t Task) Budget {
	b := t.Budget(s.cfg.StepsScale)
	b.EvalEvery = max(1, b.Steps/s.cfg.Evals)
	return b
}

// Budget returns the budget of task in this suite.
func (s *Suite) Budget(t Task) Budget { return s.budget(t) }

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Run runs every planned run that has no stored result (all of them with
// Rerun), storing each as it finishes, and returns the report of the
// suite. When ctx is done it stops inside the current run, which is lost,
// and returns ctx's error: the finished runs stay stored and a new Run
// skips them.
func (s *Suite) Run(ctx context.Context) (*Report, error) {
	total, _ := s.Count()
	x := &execution{s: s, total: total}
	var results []*Result
	for _, t := range s.tasks {
		b := s.budget(t)
		for _, o := range s.cfg.Optimizers {
			optS := optimizerSettings(o, t, b, s.cfg.Rank, s.cfg.WeightDecay)
			sweep := Sweep(t.LR(o), s.cfg.Sweep)
			for _, lr := range sweep {
				for _, seed := range s.cfg.Seeds {
					spec := RunSpec{t.Name(), o, "", lr, seed}
					var linear *Result
					for _, sc := range s.sweepSchedules() {
						spec.Schedule = sc
						r, err := x.run(ctx, &runPlan{task: t, settings: Settings{
							Version: FormatVersion, Numerics: s.numerics, Spec: spec, Task: t.Settings(), Budget: b, Optimizer: optS,
							Schedule: ScheduleSettings{Name: sc, Warmup: b.Warmup},
						}})
						if err != nil {
							return s.report(results), err
						}
						if sc == "linear" {
							linear = r
						}
						if s.has(sc) {
							results = append(results, r)
						}
					}
					if !s.has("refined") {
						continue
					}
					// The refined schedule of this rate and seed, from the
					// gradient norms of the linear-decay run just made.
					spec.Schedule = "refined"
					sched := ScheduleSettings{Name: "refined", From: linear.Key, Power: normPower(o)}
					norms := linear.GradNorm
					if sched.Power == 1 {
						norms = linear.GradNormL1
					}
					r, err := x.run(ctx, &runPlan{task: t, settings: Settings{
						Version: FormatVersion, Numerics: s.numerics, Spec: spec, Task: t.Settings(), Budget: b, Optimizer: optS, Schedule: sched,
					}, norms: refinableNorms(norms, b.Steps)})
					if err != nil {
						return s.report(results), err
					}
					results = append(results, r)
				}
			}
			if s.has("autolrs") {
				centre := roundLR(t.LR(o))
				stage := max(10, b.Steps/7)
				sched := ScheduleSettings{
					Name: "autolrs", Warmup: b.Warmup, WarmupLR: centre,
					MinLR: roundLR(centre / 8), MaxLR: roundLR(centre * 8),
					Probes: 5, StageSteps: stage, ProbeSteps: max(3, stage/5),
				}
				for _, seed := range s.cfg.Seeds {
					r, err := x.run(ctx, &runPlan{task: t, settings: Settings{
						Version: FormatVersion, Numerics: s.numerics, Spec: RunSpec{t.Name(), o, "autolrs", 0, seed},
						Task: t.Settings(), Budget: b, Optimizer: optS, Schedule: sched,
					}})
					if err != nil {
						return s.report(results), err
					}
					results = append(results, r)
				}
			}
		}
	}
	return s.report(results), nil
}

func (s *Suite) report(results []*Result) *Report {
	var infos []TaskInfo
	for _, t := range s.tasks {
		infos = append(infos, TaskInfo{Name: t.Name(), Description: t.Description(), Budget: s.budget(t)})
	}
	return Summarize(results, SummaryOptions{Tasks: infos, Margin: s.cfg.Margin, Seeds: s.cfg.Seeds})
}

// refinableNorms returns norms made usable by the refined schedule: a run
// that diverged has fewer steps than the budget and non-finite norms, so
// its last finite norm is carried forward (a diverged linear run is never
// the best of a sweep unless all are).
func refinableNorms(norms []float64, steps int) []float64 {
	out := make([]float64, steps)
	last := 1.0
	for i := range out {
		if i < len(norms) && finite(norms[i]) && norms[i] > 0 {
			last = norms[i]
		}
		out[i] = last
	}
	return out
}

// execution runs a suite's plans one by one.
type execution struct {
	s     *Suite
	total int
	index int
}

// run returns the stored result of plan, or runs it and stores it.
func (x *execution) run(ctx context.Context, plan *runPlan) (*Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	key, err := Key(plan.settings)
	if err != nil {
		return nil, err
	}
	plan.key = key
	x.index++
	ev := Event{Index: x.index, Total: x.total, Spec: plan.settings.Spec, Key: key, Steps: plan.settings.Budget.Steps}
	if !x.s.cfg.Rerun {
		r, err := x.s.store.Load(key)
		if err != nil {
			return nil, err
		}
		if r != nil {
			ev.Result, ev.Cached = r, true
			x.emit(ev)
			return r, nil
		}
	}
	x.emit(ev)
	start := time.Now()
	r, err := execute(ctx, plan)
	if err != nil {
		return nil, err
	}
	if err := x.s.store.Save(r); err != nil {
		return nil, err
	}
	ev.Result, ev.Elapsed = r, time.Since(start)
	x.emit(ev)
	return r, nil
}

func (x *execution) emit(ev Event) {
	if x.s.cfg.OnRun != nil {
		x.s.cfg.OnRun(ev)
	}
}
