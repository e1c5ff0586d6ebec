package autolrs

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
)

// Probe is one learning rate tried during a stage's search.
type Probe struct {
	// Stage is the index of the stage (from 0).
	Stage int
	// LR is the learning rate tried.
	LR float64
	// Forecast is the loss predicted for the end of the stage's training at
	// LR, the value the search minimises; DivergedLoss if the probe diverged.
	Forecast float64
	// Curve is the fitted loss model the forecast comes from (zero if the
	// probe diverged). x counts probe steps from 0, or validation
	// measurements from 0 in validation mode.
	Curve Curve
	// Diverged reports a NaN or infinite loss during the probe.
	Diverged bool
	// Replaced reports that, in validation mode, a validation loss reached
	// the loss AutoLRS started from, so the last validation loss was used
	// instead of the extrapolation (the official safeguard).
	Replaced bool
	// LastLoss is the probe's last training loss.
	LastLoss float64
}

// StageReport describes one stage: its search and its training.
type StageReport struct {
	// Stage is the index of the stage (from 0).
	Stage int
	// ProbeSteps is τ', the steps each probe trained.
	ProbeSteps int
	// StageSteps is τ, the planned training at the chosen rate.
	StageSteps int
	// Validation reports that the probes were forecast from validation losses.
	Validation bool
	// Probes are the learning rates tried, in order; empty for a final stage
	// too short to search, which continues at the previous rate.
	Probes []Probe
	// LR is the learning rate the stage trained with: the probe with the
	// smallest forecast.
	LR float64
	// WarmupSteps is the number of warmup steps run before this stage (only
	// the first stage has any).
	WarmupSteps int
	// SearchSteps is the number of steps spent probing (Probes·ProbeSteps).
	SearchSteps int
	// TrainSteps is the number of steps trained at LR: StageSteps, or fewer
	// when the step budget ends within the stage.
	TrainSteps int
	// Steps is the controller's total step count after the stage, counting
	// warmup, probe and training steps.
	Steps int
	// LastLoss is the last training loss of the stage.
	LastLoss float64
}

// Result summarises a run.
type Result struct {
	// Stages are the reports of all stages run, in order.
	Stages []StageReport
	// Steps is the total number of optimizer steps run: warmup, probes and
	// training at the chosen rates.
	Steps int
	// SearchSteps is the part of Steps spent probing.
	SearchSteps int
}

// Controller runs AutoLRS: it splits training into stages, searches a
// constant learning rate for each stage by Bayesian optimisation over short
// probes whose losses are extrapolated to the end of the stage, and trains
// the stage at the best rate found. It is not safe for concurrent use.
type Controller struct {
	cfg      Config
	rng      *rand.Rand
	logLo    float64 // log MinLR
	logHi    float64 // log MaxLR
	stage    int
	tauProbe int  // τ' of the next stage
	tau      int  // τ of the next stage
	grown    bool // the stages have stopped growing
	started  bool
	initLoss float64 // training loss when the search started
	lr       float64 // rate of the last stage (0 before the first)
	steps    int
	losses   []float64
	vlosses  []float64
}

// New validates cfg and returns a controller at the start of training.
func New(cfg Config) (*Controller, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Controller{
		cfg:      c,
		rng:      rand.New(rand.NewPCG(c.Seed, 0x6175746f6c7273)),
		logLo:    math.Log(c.MinLR),
		logHi:    math.Log(c.MaxLR),
		tauProbe: c.ProbeSteps,
		tau:      c.StageSteps,
		initLoss: math.NaN(),
	}, nil
}

// Config returns the configuration with the defaults filled in.
func (c *Controller) Config() Config { return c.cfg }

// Steps returns the number of optimizer steps run so far, counting warmup,
// probes and training at the chosen rates.
func (c *Controller) Steps() int { return c.steps }

// LR returns the learning rate of the last stage (0 before the first stage).
func (c *Controller) LR() float64 { return c.lr }

// NextStage returns τ' and τ of the next stage and whether it will forecast
// from validation losses if the trainer is a Validator.
func (c *Controller) NextStage() (probeSteps, stageSteps int, validation bool) {
	return c.tauProbe, c.tau, c.grown && !c.cfg.NoValidation
}

// MinSteps returns the smallest budget Run accepts: the warmup and the first
// stage's search plus one training step.
func (c *Controller) MinSteps() int {
	return c.cfg.WarmupSteps + c.cfg.Probes*c.cfg.ProbeSteps + 1
}

// Run runs stages until the controller has run totalSteps steps in all
// (probes included), so that runs can be compared at equal cost with a
// fixed schedule of totalSteps steps. The last stage is cut short to fit;
// if too few steps remain for its search, it continues at the previous
// stage's rate. On error the result holds the stages completed so far and
// Steps counts every step run, including those of the unfinished stage.
func (c *Controller) Run(ctx context.Context, tr Trainer, totalSteps int) (Result, error) {
	var res Result
	if !c.started && totalSteps < c.MinSteps() {
		return res, fmt.Errorf("autolrs: a budget of %d steps is too small: the warmup (%d) and the first search (%d probes × %d steps) need at least %d",
			totalSteps, c.cfg.WarmupSteps, c.cfg.Probes, c.cfg.ProbeSteps, c.MinSteps())
	}
	for c.steps < totalSteps {
		rep, err := c.Stage(ctx, tr, totalSteps-c.steps)
		if err != nil {
			res.Steps = c.steps
			return res, err
		}
		res.Stages = append(res.Stages, rep)
		res.Steps = c.steps
		res.SearchSteps += rep.SearchSteps
	}
	res.Steps = c.steps
	return res, nil
}

// Stage runs one stage using at most budget steps (the warmup first, on the
// first call): it checkpoints the trainer, probes Config.Probes learning
// rates from the checkpoint, restores it and trains at the best rate for τ
// steps, or for what remains of the budget. If the budget cannot hold the
// search and one training step, it trains the whole budget at the previous
// stage's rate instead (an error before the first stage). A stage cut short
// by the budget does not grow the next one.
func (c *Controller) Stage(ctx context.Context, tr Trainer, budget int) (StageReport, error) {
	rep := StageReport{Stage: c.stage}
	if budget <= 0 {
		return rep, fmt.Errorf("autolrs: stage budget must be positive, have %d", budget)
	}
	if !c.started {
		if budget < c.MinSteps() {
			return rep, fmt.Errorf("autolrs: a first-stage budget of %d steps is too small, need at least %d", budget, c.MinSteps())
		}
		if err := c.warmup(ctx, tr); err != nil {
			return rep, err
		}
		rep.WarmupSteps = c.cfg.WarmupSteps
		budget -= c.cfg.WarmupSteps
		c.started = true
	}
	tp, tau := c.tauProbe, c.tau
	k := c.cfg.Probes
	rep.ProbeSteps, rep.StageSteps = tp, tau
	if budget <= k*tp {
		if c.lr == 0 {
			return rep, fmt.Errorf("autolrs: a budget of %d steps cannot hold the first search (%d probes × %d steps)", budget, k, tp)
		}
		rep.LR = c.lr
		if err := c.train(ctx, tr, c.lr, budget); err != nil {
			return rep, err
		}
		rep.TrainSteps = budget
		rep.LastLoss = c.losses[budget-1]
		return c.finish(rep), nil
	}
	train := min(tau, budget-k*tp)
	val, valFreq := c.validationPlan(tr, tp)
	rep.Validation = val

	if err := tr.Checkpoint(); err != nil {
		return rep, fmt.Errorf("autolrs: checkpoint before stage %d: %w", c.stage, err)
	}
	s := newSearch(c.cfg.Kappa, c.rng)
	for i := range k {
		u, err := s.next()
		if err != nil {
			return rep, fmt.Errorf("autolrs: stage %d, probe %d: %w", c.stage, i, err)
		}
		lr := c.lrAt(u)
		if i > 0 {
			if err := tr.Restore(); err != nil {
				return rep, fmt.Errorf("autolrs: restore before probe %d of stage %d: %w", i, c.stage, err)
			}
		}
		p, err := c.probe(ctx, tr, lr, tp, train, val, valFreq)
		if err != nil {
			return rep, err
		}
		rep.SearchSteps += tp
		s.tell(u, p.Forecast)
		rep.Probes = append(rep.Probes, p)
		if c.cfg.OnProbe != nil {
			c.cfg.OnProbe(p)
		}
	}
	best := 0
	for i, p := range rep.Probes {
		if p.Forecast < rep.Probes[best].Forecast {
			best = i
		}
	}
	rep.LR = rep.Probes[best].LR
	if err := tr.Restore(); err != nil {
		return rep, fmt.Errorf("autolrs: restore before training stage %d: %w", c.stage, err)
	}
	if err := c.train(ctx, tr, rep.LR, train); err != nil {
		return rep, err
	}
	rep.TrainSteps = train
	rep.LastLoss = c.losses[train-1]
	if train == tau {
		if tau < c.cfg.MaxStageSteps {
			c.tauProbe, c.tau = 2*tp, 2*tau
		} else {
			c.grown = true
		}
	}
	return c.finish(rep), nil
}

// finish books a completed stage.
func (c *Controller) finish(rep StageReport) StageReport {
	c.lr = rep.LR
	rep.Steps = c.steps
	c.stage++
	if c.cfg.OnStage != nil {
		c.cfg.OnStage(rep)
	}
	return rep
}

// validationPlan decides whether this stage forecasts from validation losses
// and how many steps lie between two measurements (τ' divided by the number
// of measurements, rounded down, as in the official code).
func (c *Controller) validationPlan(tr Trainer, tp int) (bool, int) {
	if !c.grown || c.cfg.NoValidation {
		return false, 0
	}
	if _, ok := tr.(Validator); !ok {
		return false, 0
	}
	return true, tp / min(c.cfg.ValidationPoints, tp)
}

// lrAt maps the normalised log learning rate u ∈ [0, 1] to a learning rate.
func (c *Controller) lrAt(u float64) float64 {
	switch {
	case u <= 0:
		return c.cfg.MinLR
	case u >= 1:
		return c.cfg.MaxLR
	}
	return math.Exp(c.logLo + u*(c.logHi-c.logLo))
}

// buffer returns the loss buffer with room for n steps.
func (c *Controller) buffer(n int) []float64 {
	if cap(c.losses) < n {
		c.losses = make([]float64, n)
	}
	return c.losses[:n]
}

// train runs n steps at lr, counting them; the losses end up in c.losses.
func (c *Controller) train(ctx context.Context, tr Trainer, lr float64, n int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := tr.Train(ctx, lr, c.buffer(n)); err != nil {
		return fmt.Errorf("autolrs: training %d steps at lr %g: %w", n, lr, err)
	}
	c.steps += n
	return nil
}

// warmup runs the linear warmup and records the loss the search starts from.
func (c *Controller) warmup(ctx context.Context, tr Trainer) error {
	w := c.cfg.WarmupSteps
	for t := range w {
		lr := c.cfg.WarmupLR * float64(t+1) / float64(w)
		if err := c.train(ctx, tr, lr, 1); err != nil {
			return err
		}
		c.initLoss = c.losses[0]
	}
	return nil
}

// probe trains tp steps at lr and forecasts the loss after train steps.
func (c *Controller) probe(ctx context.Context, tr Trainer, lr float64, tp, train int, val bool, valFreq int) (Probe, error) {
	p := Probe{Stage: c.stage, LR: lr}
	if !val {
		if err := c.train(ctx, tr, lr, tp); err != nil {
			return p, err
		}
		losses := c.losses[:tp]
		if math.IsNaN(c.initLoss) {
			c.initLoss = losses[0]
		}
		p.LastLoss = losses[tp-1]
		if !allFinite(losses) {
			return c.diverged(p), nil
		}
		p.Curve = Forecast(losses, false)
		p.Forecast = p.Curve.At(float64(train))
	} else {
		v := tr.(Validator)
		m := tp / valFreq
		c.vlosses = c.vlosses[:0]
		finite := true
		for range m {
			if err := c.train(ctx, tr, lr, valFreq); err != nil {
				return p, err
			}
			finite = finite && allFinite(c.losses[:valFreq])
			p.LastLoss = c.losses[valFreq-1]
			vl, err := v.ValidationLoss(ctx)
			if err != nil {
				return p, fmt.Errorf("autolrs: validation loss during probe at lr %g: %w", lr, err)
			}
			c.vlosses = append(c.vlosses, vl)
		}
		if rest := tp - m*valFreq; rest > 0 {
			if err := c.train(ctx, tr, lr, rest); err != nil {
				return p, err
			}
			finite = finite && allFinite(c.losses[:rest])
			p.LastLoss = c.losses[rest-1]
		}
		if !finite || !allFinite(c.vlosses) {
			return c.diverged(p), nil
		}
		p.Curve = Forecast(c.vlosses, true)
		p.Forecast = p.Curve.At(float64(train / valFreq))
		if maxOf(c.vlosses) >= c.initLoss {
			p.Forecast, p.Replaced = c.vlosses[m-1], true
		}
	}
	if math.IsNaN(p.Forecast) || math.IsInf(p.Forecast, 0) {
		return c.diverged(p), nil
	}
	return p, nil
}

// diverged marks p as diverged.
func (c *Controller) diverged(p Probe) Probe {
	p.Diverged, p.Forecast, p.Curve = true, c.cfg.DivergedLoss, Curve{}
	return p
}

func allFinite(xs []float64) bool {
	for _, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

func maxOf(xs []float64) float64 {
	m := math.Inf(-1)
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}
