package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/kiln-ml/kiln/autograd"
	"github.com/kiln-ml/kiln/kernels"
	"github.com/kiln-ml/kiln/models/data"
	"github.com/kiln-ml/kiln/optim"
	"github.com/kiln-ml/kiln/optim/autolrs"
)

// Model is what the loop trains: a language model over token windows.
type Model interface {
	Parameters() []*autograd.Var
	// Loss returns the mean loss of predicting targets from ids, both
	// [B*T] row-major, recorded on tape.
	Loss(tape *autograd.Tape, ids, targets []int, B, T int) *autograd.Var
}

// Dropout is implemented by models with dropout: Train turns it on with
// masks drawn from rng, Eval turns it off.
type Dropout interface {
	Train(rng *rand.Rand)
	Eval()
}

// Optimizer is what the loop needs of an optimizer.
type Optimizer interface {
	Step() error
	ZeroGrad()
	SetLR(lr float64)
}

// Schedule gives the factor that multiplies the base learning rate at a
// step (counted from 0).
type Schedule interface {
	Factor(step int) float64
}

// NonFinite says what the loop does when a step's loss or gradients are
// not finite.
type NonFinite int

const (
	// Stop ends the run with an error naming the step and the parameter.
	Stop NonFinite = iota
	// Skip drops the step's update, counts it and goes on.
	Skip
)

// Config is a run's settings. Zero values take the documented defaults.
type Config struct {
	Steps    int      // optimizer steps in the whole run (required)
	Batch    int      // sequences per step (required)
	Context  int      // tokens per sequence (required)
	LR       float64  // base learning rate (required)
	Schedule Schedule // multiplies LR per step; nil means constant
	ClipNorm float64  // clip gradients to this global norm; 0 disables

	EvalEvery       int // validate every this many steps (default Steps/10), and at the end
	EvalBatches     int // validation batches per evaluation (default 8; -1: the whole split)
	CheckpointEvery int // checkpoint every this many steps (default EvalEvery), and at the end
	OutDir          string
	Seed            uint64    // seeds batch sampling and dropout
	OnNonFinite     NonFinite // what to do with NaN/Inf losses or gradients

	// AutoLRS, when set, chooses the learning rate stage by stage instead of
	// LR and Schedule ('AutoLRS: Automatic Learning-Rate Schedule by Bayesian
	// Optimization on the Fly'); Steps counts its probe steps too.
	AutoLRS *autolrs.Config
}

func (c *Config) defaults() error {
	if c.Steps <= 0 {
		return fmt.Errorf("train: steps %d must be positive", c.Steps)
	}
	if c.Batch <= 0 || c.Context <= 0 {
		return fmt.Errorf("train: batch %d and context %d must be positive", c.Batch, c.Context)
	}
	if !(c.LR > 0) || math.IsInf(c.LR, 0) {
		return fmt.Errorf("train: learning rate %v must be a positive number", c.LR)
	}
	if c.ClipNorm < 0 {
		return fmt.Errorf("train: clip norm %v must be >= 0", c.ClipNorm)
	}
	if c.EvalEvery <= 0 {
		c.EvalEvery = max(1, c.Steps/10)
	}
	if c.EvalBatches == 0 {
		c.EvalBatches = 8
	}
	if c.CheckpointEvery <= 0 {
		c.CheckpointEvery = c.EvalEvery
	}
	return nil
}

// Trainer runs a training loop. Make one with New, optionally Resume, then Run.
type Trainer struct {
	cfg     Config
	model   Model
	params  []*autograd.Var
	opt     Optimizer
	ds      *data.Dataset
	sampler *data.Sampler
	val     *data.Sequential
	dropout *rand.PCG
	tape    *autograd.Tape
	evalT   *autograd.Tape
	batch   data.Batch

	step    int
	tokens  int64
	skipped int
	parts   map[string]Stateful
	stages  []StageLog
	// training is true while Run has the model's dropout on.
	training bool

	// Meta is saved in every checkpoint (model and run configs, say).
	Meta map[string]string
	// OnStep, if set, is called after every step with its record (for a
	// progress bar, say).
	OnStep func(Record)
	// Callbacks run after every step; an error ends the run with it.
	Callbacks []func(ctx context.Context, t *Trainer, r Record) error
}

// New checks the configuration and prepares a run from step 0.
func New(cfg Config, model Model, opt Optimizer, ds *data.Dataset) (*Trainer, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	sampler, err := data.NewSampler(ds.Train, cfg.Batch, cfg.Context, rand.NewPCG(cfg.Seed, 0x7472616e))
	if err != nil {
		return nil, fmt.Errorf("train: training data: %w", err)
	}
	t := &Trainer{
		cfg: cfg, model: model, params: model.Parameters(), opt: opt, ds: ds, sampler: sampler,
		dropout: rand.NewPCG(cfg.Seed, 0x64726f70),
		tape:    autograd.NewTape(), evalT: autograd.NewTape(autograd.WithoutGrad()),
		parts: map[string]Stateful{}, Meta: map[string]string{},
	}
	if len(ds.Val) > 0 {
		if t.val, err = data.NewSequential(ds.Val, cfg.Batch, cfg.Context); err != nil {
			return nil, fmt.Errorf("train: validation data: %w", err)
		}
	}
	switch o := opt.(type) {
	case Stateful:
		t.parts["optim"] = o
	case optim.Optimizer:
		t.parts["optim"] = optimState{o}
	}
	t.parts["sampler"] = binaryState{t.sampler}
	t.parts["dropout"] = binaryState{t.dropout}
	return t, nil
}

// AddState registers another part whose state is checkpointed (a schedule
// controller, say) under name.
func (t *Trainer) AddState(name string, s Stateful) { t.parts[name] = s }

// Step returns the number of steps done.
func (t *Trainer) Step() int { return t.step }

// Config returns the run's configuration with defaults filled in.
func (t *Trainer) Config() Config { return t.cfg }

// CheckpointPath is where the run's checkpoint lives.
func (t *Trainer) CheckpointPath() string {
	return filepath.Join(t.cfg.OutDir, "checkpoint.safetensors")
}

// MetricsPath is where the run's metrics live.
func (t *Trainer) MetricsPath() string { return filepath.Join(t.cfg.OutDir, "metrics.jsonl") }

// Resume restores weights, optimizer and data position from a checkpoint,
// so that Run continues the run as if it had never stopped.
func (t *Trainer) Resume(path string) error {
	c, err := OpenCheckpoint(path)
	if err != nil {
		return err
	}
	if c.Step > t.cfg.Steps {
		return fmt.Errorf("train: checkpoint %s is at step %d, past this run's %d steps", path, c.Step, t.cfg.Steps)
	}
	for name := range t.parts {
		if !c.HasPart(name) {
			return fmt.Errorf("train: checkpoint %s has no state for %s: it was written by a different kind of run", path, name)
		}
	}
	tokens, err := metaCount(c, "tokens", math.MaxInt64)
	if err != nil {
		return err
	}
	skipped, err := metaCount(c, "skipped", int64(c.Step))
	if err != nil {
		return err
	}
	if err := c.LoadParams(t.params); err != nil {
		return err
	}
	for name, p := range t.parts {
		if err := c.LoadPart(name, p); err != nil {
			return err
		}
	}
	t.step = c.Step
	t.tokens, t.skipped = tokens, int(skipped)
	return nil
}

// metaCount reads a counter from a checkpoint's metadata: 0 when absent
// (a checkpoint written by another program), else an integer in [0, limit].
func metaCount(c *CheckpointFile, key string, limit int64) (int64, error) {
	s, ok := c.Meta[key]
	if !ok {
		return 0, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 || v > limit {
		return 0, fmt.Errorf("train: checkpoint %s: %s count %q is not an integer in [0, %d]", c.Path, key, s, limit)
	}
	return v, nil
}

// SaveCheckpoint writes the run's state to path atomically.
func (t *Trainer) SaveCheckpoint(path string) error {
	meta := map[string]string{}
	for k, v := range t.Meta {
		meta[k] = v
	}
	meta["tokens"] = strconv.FormatInt(t.tokens, 10)
	meta["skipped"] = strconv.Itoa(t.skipped)
	c := Checkpoint{Step: t.step, Params: t.params, Parts: t.parts, Meta: meta}
	return c.Save(path)
}

// Result summarises a run.
type Result struct {
	Steps        int
	Tokens       int64
	Skipped      int     // steps skipped for non-finite gradients
	TrainLoss    float64 // mean training loss over the last 10% of steps run
	ValLoss      float64 // last validation loss (NaN if none)
	Elapsed      time.Duration
	TokensPerSec float64
}

// run is the bookkeeping of one call to Run.
type run struct {
	metrics    *MetricsWriter
	start      time.Time
	tick       time.Time
	tickTokens int64
	tps        float64
	startStep  int
	tail       []float64
	res        Result
}

// Run trains until the configured number of steps, or until ctx is done, in
// which case it saves a checkpoint and returns ctx's error.
func (t *Trainer) Run(ctx context.Context) (Result, error) {
	cfg := t.cfg
	r := &run{res: Result{ValLoss: math.NaN()}, startStep: t.step}
	if cfg.OutDir != "" {
		if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
			return r.res, fmt.Errorf("train: output directory: %w", err)
		}
		// A crash while saving leaves partial temporary files; the saved
		// files themselves are always whole.
		for _, p := range []string{t.CheckpointPath(), t.MetricsPath()} {
			if err := removeStaleTemps(p); err != nil {
				return r.res, fmt.Errorf("train: output directory: removing temporary files of an earlier run: %w", err)
			}
		}
		keep := -1
		if t.step > 0 {
			keep = t.step
		}
		var err error
		if r.metrics, err = OpenMetrics(t.MetricsPath(), keep); err != nil {
			return r.res, err
		}
		defer r.metrics.Close()
	}
	if d, ok := t.model.(Dropout); ok {
		d.Train(rand.New(t.dropout))
		t.training = true
		defer func() { d.Eval(); t.training = false }()
	}
	r.start = time.Now()
	r.tick, r.tickTokens = r.start, t.tokens
	var err error
	if cfg.AutoLRS != nil {
		err = t.runAutoLRS(ctx, r)
	} else {
		for t.step < cfg.Steps && err == nil {
			lr := cfg.LR
			if cfg.Schedule != nil {
				lr *= cfg.Schedule.Factor(t.step)
			}
			_, err = t.oneStep(ctx, r, lr)
		}
	}
	res := t.result(r)
	if err != nil {
		return res, err
	}
	if cfg.OutDir != "" {
		if err := r.metrics.Flush(); err != nil {
			return res, err
		}
		if recs, err := ReadMetrics(t.MetricsPath()); err == nil && len(recs) > 1 {
			if err := PlotLoss(filepath.Join(cfg.OutDir, "loss.png"), "training loss", recs); err != nil {
				return res, err
			}
		}
	}
	return res, nil
}

// save flushes the metrics and writes the checkpoint (when the run has an
// output directory).
func (t *Trainer) save(r *run) error {
	if t.cfg.OutDir == "" {
		return nil
	}
	if err := r.metrics.Flush(); err != nil {
		return err
	}
	return t.SaveCheckpoint(t.CheckpointPath())
}

// oneStep runs one training step at learning rate lr with all its
// bookkeeping: metrics, evaluation, callbacks, checkpoints. When ctx is done
// it saves a checkpoint and returns ctx's error without stepping.
func (t *Trainer) oneStep(ctx context.Context, r *run, lr float64) (Record, error) {
	cfg := t.cfg
	if err := ctx.Err(); err != nil {
		if serr := t.save(r); serr != nil {
			return Record{}, errors.Join(err, serr)
		}
		return Record{}, err
	}
	t.opt.SetLR(lr)
	t.sampler.NextInto(&t.batch)
	loss := t.model.Loss(t.tape, t.batch.X, t.batch.Y, t.batch.B, t.batch.T)
	loss.Backward()
	lv := float64(loss.Item())
	norm, bad := gradNorm(t.params)
	rec := Record{Step: t.step + 1, Loss: lv, LR: lr, GradNorm: norm, GradNormL1: optim.GradNormL1(t.params)}
	if math.IsNaN(lv) || math.IsInf(lv, 0) || bad != "" {
		what := fmt.Sprintf("loss %v", lv)
		if bad != "" {
			what = fmt.Sprintf("gradient of %s is not finite (loss %v)", bad, lv)
		}
		// AutoLRS probes may diverge on purpose: the controller reads the
		// NaN loss and restores its checkpoint.
		if cfg.OnNonFinite == Stop && cfg.AutoLRS == nil {
			t.opt.ZeroGrad()
			t.tape.Reset()
			return rec, fmt.Errorf("train: step %d: %s; stopping (lower the learning rate, clip gradients, or skip such steps)", t.step+1, what)
		}
		// Skipping helps only while the weights are finite: once they are
		// not, every later step would skip too.
		if name := nonFiniteWeight(t.params); name != "" {
			t.opt.ZeroGrad()
			t.tape.Reset()
			return rec, fmt.Errorf("train: step %d: weight %s is not finite; skipping steps cannot recover, stopping", t.step+1, name)
		}
		rec.Skipped = true
		t.skipped++
	} else {
		if cfg.ClipNorm > 0 && norm > cfg.ClipNorm {
			scaleGrads(t.params, float32(cfg.ClipNorm/(norm+1e-6)))
		}
		if err := t.opt.Step(); err != nil {
			return rec, fmt.Errorf("train: step %d: %w", t.step+1, err)
		}
	}
	t.opt.ZeroGrad()
	t.tape.Reset()
	t.step++
	t.tokens += int64(t.batch.B * t.batch.T)
	rec.Tokens = t.tokens
	if now := time.Now(); now.Sub(r.tick) > 500*time.Millisecond || t.step == cfg.Steps {
		r.tps = float64(t.tokens-r.tickTokens) / now.Sub(r.tick).Seconds()
		r.tick, r.tickTokens = now, t.tokens
	}
	rec.TokensPerSec = r.tps
	rec.Elapsed = time.Since(r.start).Seconds()
	if t.step%cfg.EvalEvery == 0 || t.step == cfg.Steps {
		v := t.Evaluate(cfg.EvalBatches)
		if !math.IsNaN(v) {
			rec.ValLoss = &v
			r.res.ValLoss = v
		}
	}
	if !rec.Skipped {
		r.tail = append(r.tail, lv)
		if keep := max(1, (cfg.Steps-r.startStep)/10); len(r.tail) > keep {
			r.tail = r.tail[1:]
		}
	}
	if r.metrics != nil {
		if err := r.metrics.Write(rec); err != nil {
			return rec, fmt.Errorf("train: metrics: %w", err)
		}
	}
	if t.OnStep != nil {
		t.OnStep(rec)
	}
	for _, cb := range t.Callbacks {
		if err := cb(ctx, t, rec); err != nil {
			if serr := t.save(r); serr != nil {
				err = errors.Join(err, serr)
			}
			return rec, err
		}
	}
	// Under AutoLRS a periodic checkpoint could land inside a probe; only
	// the end of the run and interruptions save.
	if (cfg.AutoLRS == nil && t.step%cfg.CheckpointEvery == 0) || t.step == cfg.Steps {
		if err := t.save(r); err != nil {
			return rec, err
		}
	}
	return rec, nil
}

func (t *Trainer) result(r *run) Result {
	res := r.res
	res.Steps, res.Tokens, res.Skipped = t.step, t.tokens, t.skipped
	res.Elapsed = time.Since(r.start)
	res.TokensPerSec = float64(int64(t.step-r.startStep)*int64(t.cfg.Batch*t.cfg.Context)) / res.Elapsed.Seconds()
	res.TrainLoss = math.NaN()
	if len(r.tail) > 0 {
		s := 0.0
		for _, v := range r.tail {
			s += v
		}
		res.TrainLoss = s / float64(len(r.tail))
	}
	return res
}

// Evaluate returns the mean loss over up to n validation batches (all of
// them if n < 0), NaN without validation data. It is deterministic.
func (t *Trainer) Evaluate(n int) float64 {
	if t.val == nil {
		return math.NaN()
	}
	if d, ok := t.model.(Dropout); ok && t.training {
		d.Eval()
		defer d.Train(rand.New(t.dropout))
	}
	t.val.Reset()
	var sum float64
	var count int
	var b data.Batch
	for i := 0; n < 0 || i < n; i++ {
		if !t.val.NextInto(&b) {
			break
		}
		loss := t.model.Loss(t.evalT, b.X, b.Y, b.B, b.T)
		sum += float64(loss.Item()) * float64(b.B)
		count += b.B
		t.evalT.Reset()
	}
	if count == 0 {
		return math.NaN()
	}
	return sum / float64(count)
}

// gradNorm returns the global L2 norm of the gradients (float64, in
// parameter order) and the name of the first parameter whose gradient is
// not finite.
func gradNorm(params []*autograd.Var) (float64, string) {
	var ss float64
	bad := ""
	for _, p := range params {
		g := p.Grad()
		if g == nil {
			continue
		}
		d := float64(kernels.Dot(g.Data(), g.Data()))
		if (math.IsNaN(d) || math.IsInf(d, 0)) && bad == "" {
			bad = p.Name()
		}
		ss += d
	}
	return math.Sqrt(ss), bad
}

// nonFiniteWeight returns the name of the first parameter holding a NaN or
// an infinity, or "".
func nonFiniteWeight(params []*autograd.Var) string {
	for _, p := range params {
		for _, v := range p.Value().Contiguous().Data() {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return p.Name()
			}
		}
	}
	return ""
}

func scaleGrads(params []*autograd.Var, s float32) {
	for _, p := range params {
		if g := p.Grad(); g != nil {
			kernels.Scale(g.Data(), g.Data(), s)
		}
	}
}
