package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"runtime/metrics"
	"slices"
	"time"

	"github.com/kiln-ml/kiln/autograd"
	"github.com/kiln-ml/kiln/kernels"
	"github.com/kiln-ml/kiln/optim"
	"github.com/kiln-ml/kiln/optim/autolrs"
)

// runPlan is everything Execute needs for one run.
type runPlan struct {
	task     Task
	settings Settings
	key      string
	norms    []float64 // refined: the gradient norms of the linear-decay run
}

// runner is the state of one run in progress.
type runner struct {
	plan   *runPlan
	b      Budget
	prob   Problem
	params []*autograd.Var
	opt    optim.Optimizer
	tape   *autograd.Tape
	evalT  *autograd.Tape
	res    *Result
	step   int
	train  time.Duration // training time so far
	durs   []time.Duration
	heap   heapMeter
}

// execute runs plan to the end, or until ctx is done (then it returns
// ctx's error and no result).
func execute(ctx context.Context, plan *runPlan) (*Result, error) {
	s := plan.settings
	b := s.Budget
	if err := plan.task.Prepare(); err != nil {
		return nil, err
	}
	var heap heapMeter
	heap.start()
	prob, err := plan.task.NewProblem(s.Spec.Seed)
	if err != nil {
		return nil, err
	}
	params := prob.Params()
	lr := s.Spec.LR
	if s.Schedule.Name == "autolrs" {
		lr = s.Schedule.WarmupLR
	}
	opt, err := newOptimizer(s.Optimizer, params, lr, plan.task.LowRankTarget())
	if err != nil {
		return nil, fmt.Errorf("bench: %v: %w", s.Spec, err)
	}
	r := &runner{
		plan: plan, b: b, prob: prob, params: params, opt: opt,
		tape: autograd.NewTape(), evalT: autograd.NewTape(autograd.WithoutGrad()),
		res: &Result{
			Key: plan.key, Settings: s, FinalTrain: Float(math.NaN()), FinalVal: Float(math.NaN()),
			Threads: kernels.Threads(), Kernels: kernels.Path(),
		},
		heap: heap,
	}
	r.validate()
	switch s.Schedule.Name {
	case "autolrs":
		err = r.runAutoLRS(ctx)
	default:
		var sched optim.Schedule
		if sched, err = r.schedule(); err == nil {
			err = r.runSchedule(ctx, sched)
		}
	}
	if err != nil {
		return nil, err
	}
	r.finish()
	return r.res, nil
}

// schedule builds the run's fixed schedule.
func (r *runner) schedule() (optim.Schedule, error) {
	s := r.plan.settings.Schedule
	opts := optim.ScheduleOptions{Floor: s.Floor}
	if s.Name == "refined" {
		opts.Norms, opts.NormPower, opts.Smooth = r.plan.norms, s.Power, true
	}
	sched, err := optim.ParseSchedule(s.Name, r.b.Steps, s.Warmup, opts)
	if err != nil {
		return nil, fmt.Errorf("bench: %v: %w", r.plan.settings.Spec, err)
	}
	return sched, nil
}

// runSchedule trains the budget with a fixed schedule; a non-finite loss or
// gradient ends the run as diverged.
func (r *runner) runSchedule(ctx context.Context, sched optim.Schedule) error {
	peak := r.plan.settings.Spec.LR
	for r.step < r.b.Steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !r.oneStep(peak*sched.Factor(r.step), true) {
			return nil
		}
	}
	return nil
}

// oneStep runs a step at rate lr and does its bookkeeping. A non-finite loss
// or gradient skips the update; with stop, it also ends the run as diverged
// (oneStep returns false).
func (r *runner) oneStep(lr float64, stop bool) bool {
	start := time.Now()
	r.opt.SetLR(lr)
	loss := r.prob.TrainLoss(r.tape)
	loss.Backward()
	lv := float64(loss.Item())
	l2 := optim.GradNorm(r.params)
	l1 := optim.GradNormL1(r.params)
	ok := finite(lv) && finite(l2) && finite(l1)
	if ok {
		if c := r.b.ClipNorm; c > 0 && l2 > c {
			optim.ClipGradNorm(r.params, c)
		}
		if err := r.opt.Step(); err != nil {
			ok = false // a low-rank optimizer refuses non-finite projections
		}
	}
	r.opt.ZeroGrad()
	r.tape.Reset()
	d := time.Since(start)
	r.train += d
	r.durs = append(r.durs, d)
	r.step++
	res := r.res
	res.Loss = append(res.Loss, lv)
	res.LR = append(res.LR, lr)
	res.GradNorm = append(res.GradNorm, l2)
	res.GradNormL1 = append(res.GradNormL1, l1)
	res.Seconds = append(res.Seconds, r.train.Seconds())
	r.heap.sample()
	if r.step == 1 {
		r.heap.sampleLive() // the tape's buffers are warm
	}
	if !ok && stop {
		res.Diverged, res.DivergedStep = true, r.step
		return false
	}
	if r.step%r.b.EvalEvery == 0 || r.step == r.b.Steps {
		r.validate()
	}
	return true
}

// validate records the validation loss at the current step.
func (r *runner) validate() {
	v := r.prob.ValLoss(r.evalT)
	r.res.Val = append(r.res.Val, ValPoint{Step: r.step, Loss: Float(v), Seconds: r.train.Seconds()})
	r.heap.sample()
}

// finish computes the summary numbers.
func (r *runner) finish() {
	res := r.res
	res.Steps = r.step
	res.StateBytes = r.opt.StateBytes()
	res.PeakHeapBytes = r.heap.peakAbove()
	res.LiveHeapBytes = r.heap.live()
	res.TrainSeconds = r.train.Seconds()
	if len(r.durs) > 0 {
		d := slices.Clone(r.durs)
		slices.Sort(d)
		res.StepSeconds = d[len(d)/2].Seconds()
	}
	if res.Diverged {
		res.FinalTrain, res.FinalVal = Float(math.Inf(1)), Float(math.Inf(1))
		return
	}
	tail := max(1, r.step/10)
	var sum float64
	n := 0
	for _, l := range res.Loss[len(res.Loss)-tail:] {
		if finite(l) {
			sum += l
			n++
		}
	}
	if n > 0 {
		res.FinalTrain = Float(sum / float64(n))
	}
	if len(res.Val) > 0 {
		res.FinalVal = res.Val[len(res.Val)-1].Loss
	}
	if !finite(float64(res.FinalVal)) {
		res.FinalVal = Float(math.Inf(1))
	}
}

// runAutoLRS trains the budget with the AutoLRS controller choosing the
// rate stage by stage; its probes count as steps. A diverging probe skips
// its updates and the controller restores its checkpoint.
func (r *runner) runAutoLRS(ctx context.Context) error {
	s := r.plan.settings.Schedule
	cfg := autolrs.Config{
		MinLR: s.MinLR, MaxLR: s.MaxLR, Probes: s.Probes, StageSteps: s.StageSteps, ProbeSteps: s.ProbeSteps,
		WarmupSteps: s.Warmup, WarmupLR: s.WarmupLR, Seed: r.plan.settings.Spec.Seed,
		OnStage: func(st autolrs.StageReport) {
			var probes []float64
			for _, p := range st.Probes {
				probes = append(probes, p.LR)
			}
			r.res.Stages = append(r.res.Stages, Stage{LR: st.LR, EndStep: r.step, Probes: probes})
		},
	}
	ctrl, err := autolrs.New(cfg)
	if err != nil {
		return fmt.Errorf("bench: %v: %w", r.plan.settings.Spec, err)
	}
	if _, err := ctrl.Run(ctx, &autolrsTrainer{r: r}, r.b.Steps); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("bench: %v: %w", r.plan.settings.Spec, err)
	}
	return nil
}

// autolrsTrainer lets the AutoLRS controller drive a run, with one
// in-memory copy of the weights and the optimizer state.
type autolrsTrainer struct {
	r       *runner
	weights [][]float32
	state   *optim.StateDict
}

func (a *autolrsTrainer) Checkpoint() error {
	if a.weights == nil {
		for _, p := range a.r.params {
			a.weights = append(a.weights, make([]float32, p.Value().Size()))
		}
	}
	for i, p := range a.r.params {
		copy(a.weights[i], p.Value().Data())
	}
	a.state = a.r.opt.State()
	return nil
}

func (a *autolrsTrainer) Restore() error {
	if a.weights == nil {
		return errors.New("bench: AutoLRS restore before any checkpoint")
	}
	for i, p := range a.r.params {
		copy(p.Value().Data(), a.weights[i])
	}
	return a.r.opt.LoadState(a.state)
}

func (a *autolrsTrainer) Train(ctx context.Context, lr float64, losses []float64) error {
	for i := range losses {
		if err := ctx.Err(); err != nil {
			return err
		}
		a.r.oneStep(lr, false)
		losses[i] = a.r.res.Loss[len(a.r.res.Loss)-1]
	}
	return nil
}

// finite reports whether v is neither NaN nor infinite.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// heapMeter tracks the heap in use during a run, above the heap in use
// after a garbage collection just before it: the peak of the heap's objects
// sampled after every step (garbage not yet collected included), and the
// peak of the live heap after forced collections.
type heapMeter struct {
	base, peak, peakLive uint64
	samples              []metrics.Sample
}

const heapMetric = "/memory/classes/heap/objects:bytes"

func (h *heapMeter) start() {
	runtime.GC()
	h.samples = []metrics.Sample{{Name: heapMetric}}
	h.base = h.read()
	h.peak = h.base
}

func (h *heapMeter) read() uint64 {
	metrics.Read(h.samples)
	if h.samples[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return h.samples[0].Value.Uint64()
}

func (h *heapMeter) sample() { h.peak = max(h.peak, h.read()) }

// sampleLive collects garbage and records the heap still in use.
func (h *heapMeter) sampleLive() {
	runtime.GC()
	h.peakLive = max(h.peakLive, h.read())
}

// live returns the most heap found in use after a collection during the
// run (after its first step and at its end), above the heap before it.
func (h *heapMeter) live() int64 {
	h.sampleLive()
	if h.peakLive < h.base {
		return 0
	}
	return int64(h.peakLive - h.base)
}

func (h *heapMeter) peakAbove() int64 {
	if h.peak < h.base {
		return 0
	}
	return int64(h.peak - h.base)
}
