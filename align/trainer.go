package align

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kiln-ml/kiln/autograd"
	"github.com/kiln-ml/kiln/models/gpt"
	"github.com/kiln-ml/kiln/optim"
	"github.com/kiln-ml/kiln/train"
)

// TrainerConfig is an alignment run's settings. Zero values take the
// documented defaults.
type TrainerConfig struct {
	Steps    int            // optimizer steps (required)
	Batch    int            // examples per step: pairs, labelled completions, forget items or lists (required)
	LR       float64        // base learning rate (required)
	Schedule train.Schedule // multiplies LR per step; nil means constant
	ClipNorm float64        // clip gradients to this global norm; 0 disables

	EvalEvery       int    // evaluate every this many steps (default Steps/10), and at the end
	CheckpointEvery int    // checkpoint every this many steps (default EvalEvery), and at the end
	OutDir          string // metrics.jsonl, checkpoint.safetensors and plots; "" writes nothing
	Seed            uint64 // seeds the order of the examples
	// Tokenizer is the tokenizer's name, saved in checkpoints beside the
	// model configuration so that they load like kiln train's (default "byte").
	Tokenizer string
	// RefreshEvery, when positive with Trainer.Refresh set, replaces the
	// training data every this many steps (on-policy rounds).
	RefreshEvery int
	// SkipNonFinite skips a step whose loss or gradients are not finite
	// (counted in Result.Skipped) instead of ending the run with an error.
	SkipNonFinite bool
}

func (c *TrainerConfig) defaults() error {
	if c.Steps <= 0 {
		return fmt.Errorf("align: trainer: steps %d must be positive", c.Steps)
	}
	if c.Batch <= 0 {
		return fmt.Errorf("align: trainer: batch %d must be positive", c.Batch)
	}
	if !(c.LR > 0) || math.IsInf(c.LR, 0) {
		return fmt.Errorf("align: trainer: learning rate %v must be a positive number", c.LR)
	}
	if !(c.ClipNorm >= 0) {
		return fmt.Errorf("align: trainer: clip norm %v must be >= 0", c.ClipNorm)
	}
	if c.RefreshEvery < 0 {
		return fmt.Errorf("align: trainer: refresh interval %d must be >= 0", c.RefreshEvery)
	}
	if c.EvalEvery <= 0 {
		c.EvalEvery = max(1, c.Steps/10)
	}
	if c.CheckpointEvery <= 0 {
		c.CheckpointEvery = c.EvalEvery
	}
	if c.Tokenizer == "" {
		c.Tokenizer = "byte"
	}
	return nil
}

// LossInfo returns what the trainer needs to know of a loss: the kind of
// data it takes and whether it needs reference log-probabilities. It works
// for registered losses and for their Combine.
func LossInfo(l Loss) (kind Kind, reference bool, err error) {
	for i, name := range strings.Split(l.Name(), "+") {
		s, ok := Lookup(name)
		if !ok {
			return 0, false, fmt.Errorf("align: loss %q is not registered (known: %s)", name, strings.Join(Names(), ", "))
		}
		if i > 0 && s.Kind != kind {
			return 0, false, fmt.Errorf("align: loss %q mixes %s and %s data", l.Name(), kind, s.Kind)
		}
		kind, reference = s.Kind, reference || s.Reference
	}
	return kind, reference, nil
}

// Trainer aligns a policy with a preference loss: batches of the loss's
// kind of data, a frozen reference (its log-probabilities cached per
// example), an optimizer with a schedule and gradient clipping, periodic
// evaluation on held-out data and on fresh samples (Probe), metrics as
// JSON lines, atomic checkpoints that kiln generate can load, plots, and a
// clean stop that saves when the context is cancelled. Make one with
// NewTrainer, optionally Resume, then Run.
type Trainer struct {
	cfg    TrainerConfig
	Policy *gpt.Model
	// Ref is the frozen starting model. Losses that need it get its
	// log-probabilities; every loss gets it for the KL estimates.
	Ref   *Reference
	loss  Loss
	kind  Kind
	opt   optim.Optimizer
	data  *TrainData
	eval  *TrainData
	flags struct{ ref, kl, retain bool }

	order, retainOrder *exampleSampler
	tape, evalTape     *autograd.Tape
	batch, aux         *Batch // aux: the retain or KTO mismatched rows
	scorer             *Scorer
	idx, ridx          []int
	step               int
	skipped            int
	tokens             int64
	round              int

	// Probe, if set, runs at every evaluation: rule satisfaction of fresh
	// samples and the sampled KL to the reference, logged as eval/rule/*
	// and eval/kl/*.
	Probe *Probe
	// Refresh, if set with TrainerConfig.RefreshEvery, returns the
	// training data of the next round (1, 2, ...), typically sampled
	// from the current policy; its reference log-probabilities are
	// computed by the trainer.
	Refresh func(ctx context.Context, round int) (*TrainData, error)
	// Meta is saved in every checkpoint, beside the model configuration.
	Meta map[string]string
	// OnStep, if set, is called after every step with its record.
	OnStep func(train.Record)
	// OnEval, if set, is called after every evaluation with its metrics.
	OnEval func(step int, m Metrics)
}

// NewTrainer prepares a run from step 0: a reference copy of policy, the
// reference log-probabilities of the data when the loss needs them, and the
// order of the examples. eval may be nil; data may be nil when Resume will
// supply it.
func NewTrainer(cfg TrainerConfig, policy *gpt.Model, loss Loss, opt optim.Optimizer, data, eval *TrainData) (*Trainer, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	kind, needRef, err := LossInfo(loss)
	if err != nil {
		return nil, err
	}
	ref, err := NewReference(policy)
	if err != nil {
		return nil, err
	}
	t := &Trainer{
		cfg: cfg, Policy: policy, Ref: ref, loss: loss, kind: kind, opt: opt,
		tape: autograd.NewTape(), evalTape: autograd.NewTape(autograd.WithoutGrad()),
		batch: NewBatch(policy.Config.Context), aux: NewBatch(policy.Config.Context),
		scorer: NewScorer(policy), Meta: map[string]string{},
	}
	for _, name := range strings.Split(loss.Name(), "+") {
		t.flags.kl = t.flags.kl || name == "kto"
		t.flags.retain = t.flags.retain || name == "npo_rt"
	}
	t.flags.ref = needRef
	policy.Eval() // dropout off, as TRL's disable_dropout: π = ref at step 0
	if data != nil {
		if err := t.SetData(data); err != nil {
			return nil, err
		}
	}
	if eval != nil {
		if err := t.prepare("evaluation", eval); err != nil {
			return nil, err
		}
		t.Ref.precompute(eval, 4*cfg.Batch) // for ranking metrics and the KL proxy
		t.eval = eval
	}
	return t, nil
}

// prepare checks that data suits the loss.
func (t *Trainer) prepare(what string, d *TrainData) error {
	if d.Kind != t.kind {
		return fmt.Errorf("align: %s data is %s; loss %s takes %s data", what, d.Kind, t.loss.Name(), t.kind)
	}
	return d.check(what, t.loss.Name(), t.flags.retain && what == "training")
}

// precompute stores the reference log-probabilities in the examples.
func (r *Reference) precompute(d *TrainData, batch int) {
	switch d.Kind {
	case PairedData:
		r.PrecomputePairs(d.Pairs, r.Model.Config.Context, batch)
	case UnpairedData, ForgetData:
		r.PrecomputeUnpaired(d.Unpaired, r.Model.Config.Context, 2*batch)
	case ListwiseData:
		r.PrecomputeLists(d.Lists, r.Model.Config.Context, batch)
	}
}

// SetData replaces the training data (a new on-policy round, say): it
// caches the reference log-probabilities the loss needs and restarts the
// order of the examples.
func (t *Trainer) SetData(d *TrainData) error {
	if err := t.prepare("training", d); err != nil {
		return err
	}
	if t.flags.ref {
		t.Ref.precompute(d, 4*t.cfg.Batch)
	}
	t.data = d
	// KTO pairs each example with its neighbour's completion: keep the
	// order stable across epochs (sequential sampling).
	t.order = newExampleSampler(d.Len(), t.kind == UnpairedData, t.cfg.Seed, 0x6f72640000+uint64(t.round))
	t.retainOrder = newExampleSampler(len(d.Retain), false, t.cfg.Seed, 0x72657400000+uint64(t.round))
	return nil
}

// Data returns the current training data.
func (t *Trainer) Data() *TrainData { return t.data }

// Step returns the number of steps done.
func (t *Trainer) Step() int { return t.step }

// Config returns the configuration with defaults filled in.
func (t *Trainer) Config() TrainerConfig { return t.cfg }

// CheckpointPath is where the run's checkpoint lives.
func (t *Trainer) CheckpointPath() string {
	return filepath.Join(t.cfg.OutDir, "checkpoint.safetensors")
}

// MetricsPath is where the run's metrics live.
func (t *Trainer) MetricsPath() string { return filepath.Join(t.cfg.OutDir, "metrics.jsonl") }

// parts returns the checkpointed state beside the policy's weights.
func (t *Trainer) parts() map[string]train.Stateful {
	p := map[string]train.Stateful{
		"optim":     train.OptimizerState(t.opt),
		"reference": paramsPart{t.Ref.Model.Parameters()},
		"data":      jsonPart{&t.data},
		"order":     jsonPart{&[2]*exampleSampler{t.order, t.retainOrder}},
	}
	if s, ok := t.loss.(Stateful); ok {
		p["loss"] = lossPart{s}
	}
	return p
}

// Checkpoint metadata keys: kiln's model loaders read "model" and "tokenizer".
const (
	metaModel     = "model"
	metaTokenizer = "tokenizer"
	metaLoss      = "align.loss"
	metaTokens    = "align.tokens"
	metaRound     = "align.round"
	metaSkipped   = "align.skipped"
)

// SaveCheckpoint writes the run's state to path atomically, in the format
// of kiln train's checkpoints (train.Checkpoint) with the model
// configuration, so that the aligned policy loads wherever those do.
func (t *Trainer) SaveCheckpoint(path string) error {
	cfg, err := json.Marshal(t.Policy.Config)
	if err != nil {
		return err
	}
	meta := map[string]string{}
	for k, v := range t.Meta {
		meta[k] = v
	}
	meta[metaModel], meta[metaTokenizer] = string(cfg), t.cfg.Tokenizer
	meta[metaLoss] = t.loss.Name()
	meta[metaTokens] = strconv.FormatInt(t.tokens, 10)
	meta[metaRound] = strconv.Itoa(t.round)
	meta[metaSkipped] = strconv.Itoa(t.skipped)
	c := train.Checkpoint{Step: t.step, Params: t.Policy.Parameters(), Parts: t.parts(), Meta: meta}
	return c.Save(path)
}

// Resume restores the policy, the reference, the optimizer, the loss's
// state, the training data and the position in it from a checkpoint that
// SaveCheckpoint wrote, so that Run continues the run as if it had never
// stopped.
func (t *Trainer) Resume(path string) error {
	c, err := train.OpenCheckpoint(path)
	if err != nil {
		return err
	}
	if c.Meta[metaLoss] != t.loss.Name() {
		return fmt.Errorf("align: checkpoint %s was written by a run of loss %q, not %q", path, c.Meta[metaLoss], t.loss.Name())
	}
	if c.Step > t.cfg.Steps {
		return fmt.Errorf("align: checkpoint %s is at step %d, past this run's %d steps", path, c.Step, t.cfg.Steps)
	}
	parts := t.parts()
	for name := range parts {
		if !c.HasPart(name) {
			return fmt.Errorf("align: checkpoint %s has no state for %s: it was not written by an alignment run", path, name)
		}
	}
	if err := c.LoadParams(t.Policy.Parameters()); err != nil {
		return err
	}
	var data *TrainData
	order := [2]*exampleSampler{{}, {}}
	parts["data"], parts["order"] = jsonPart{&data}, jsonPart{&order}
	for name, p := range parts {
		if err := c.LoadPart(name, p); err != nil {
			return err
		}
	}
	if data == nil || data.Kind != t.kind {
		return fmt.Errorf("align: checkpoint %s holds no %s training data", path, t.kind)
	}
	if err := t.prepare("training", data); err != nil {
		return fmt.Errorf("align: checkpoint %s: %w", path, err)
	}
	if order[0].n != data.Len() || order[1].n != len(data.Retain) {
		return fmt.Errorf("align: checkpoint %s: the example order does not match its data", path)
	}
	t.data, t.order, t.retainOrder = data, order[0], order[1]
	t.step = c.Step
	t.tokens, _ = strconv.ParseInt(c.Meta[metaTokens], 10, 64)
	t.round, _ = strconv.Atoi(c.Meta[metaRound])
	t.skipped, _ = strconv.Atoi(c.Meta[metaSkipped])
	return nil
}

// Result summarises a run.
type Result struct {
	Steps   int
	Skipped int     // steps skipped for a non-finite loss or gradient
	Loss    float64 // mean training loss over the last 10% of the steps run
	Eval    Metrics // the last evaluation's metrics (nil without one)
	Elapsed time.Duration
}

// Run trains until the configured number of steps, or until ctx is done, in
// which case it saves a checkpoint and returns ctx's error.
func (t *Trainer) Run(ctx context.Context) (Result, error) {
	res := Result{Loss: math.NaN()}
	if t.data == nil {
		return res, errors.New("align: trainer: no training data (NewTrainer with data, or Resume)")
	}
	var metrics *train.MetricsWriter
	if t.cfg.OutDir != "" {
		if err := os.MkdirAll(t.cfg.OutDir, 0o755); err != nil {
			return res, fmt.Errorf("align: output directory: %w", err)
		}
		keep := -1
		if t.step > 0 {
			keep = t.step
		}
		var err error
		if metrics, err = train.OpenMetrics(t.MetricsPath(), keep); err != nil {
			return res, err
		}
		defer metrics.Close()
	}
	save := func() error {
		if t.cfg.OutDir == "" {
			return nil
		}
		if err := metrics.Flush(); err != nil {
			return err
		}
		return t.SaveCheckpoint(t.CheckpointPath())
	}
	start := time.Now()
	startStep := t.step
	tick, tickTokens, tps := start, t.tokens, 0.0
	var tail []float64
	for t.step < t.cfg.Steps {
		if err := ctx.Err(); err != nil {
			if serr := save(); serr != nil {
				err = errors.Join(err, serr)
			}
			res.Steps, res.Elapsed = t.step, time.Since(start)
			return res, err
		}
		if t.Refresh != nil && t.cfg.RefreshEvery > 0 && t.step > 0 && t.step%t.cfg.RefreshEvery == 0 && t.step/t.cfg.RefreshEvery > t.round {
			d, err := t.Refresh(ctx, t.round+1)
			if err == nil {
				t.round++
				err = t.SetData(d)
			}
			if err != nil {
				if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
					continue // saves above
				}
				return res, fmt.Errorf("align: refreshing the data at step %d: %w", t.step, err)
			}
		}
		rec, err := t.trainStep()
		if err != nil {
			return res, err
		}
		if now := time.Now(); now.Sub(tick) > 500*time.Millisecond || t.step == t.cfg.Steps {
			tps = float64(t.tokens-tickTokens) / now.Sub(tick).Seconds()
			tick, tickTokens = now, t.tokens
		}
		rec.TokensPerSec, rec.Elapsed = tps, time.Since(start).Seconds()
		if t.step%t.cfg.EvalEvery == 0 || t.step == t.cfg.Steps {
			m, err := t.Evaluate(ctx)
			if err != nil && !errors.Is(err, context.Canceled) {
				return res, err
			}
			if err == nil {
				res.Eval = m
				for k, v := range m {
					rec.Extra["eval/"+k] = v
				}
				if v, ok := m["loss"]; ok {
					rec.ValLoss = &v
				}
				if t.OnEval != nil {
					t.OnEval(t.step, m)
				}
			}
		}
		if !rec.Skipped {
			tail = append(tail, rec.Loss)
		}
		if keep := max(1, (t.cfg.Steps-startStep)/10); len(tail) > keep {
			tail = tail[1:]
		}
		for k, v := range rec.Extra {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				delete(rec.Extra, k) // JSON has no NaN; a missing metric reads as not measured
			}
		}
		if metrics != nil {
			if err := metrics.Write(rec); err != nil {
				return res, fmt.Errorf("align: metrics: %w", err)
			}
		}
		if t.OnStep != nil {
			t.OnStep(rec)
		}
		if t.step%t.cfg.CheckpointEvery == 0 || t.step == t.cfg.Steps {
			if err := save(); err != nil {
				return res, err
			}
		}
	}
	res.Steps, res.Skipped, res.Elapsed = t.step, t.skipped, time.Since(start)
	res.Loss = mean(tail)
	if len(tail) == 0 {
		res.Loss = math.NaN()
	}
	if t.cfg.OutDir != "" {
		if err := metrics.Flush(); err != nil {
			return res, err
		}
		if recs, err := train.ReadMetrics(t.MetricsPath()); err == nil && len(recs) > 1 {
			if err := PlotRun(t.cfg.OutDir, recs); err != nil {
				return res, err
			}
		}
	}
	return res, nil
}

// inputs fills the batch with the examples idx (and the retain examples
// ridx) of d, runs the policy on tape and returns the loss's inputs.
func (t *Trainer) inputs(tape *autograd.Tape, d *TrainData, idx, ridx []int, eval bool) *Inputs {
	b := t.batch
	forward := func(b *Batch) *autograd.Var {
		return SequenceLogProbs(t.Policy.Forward(tape, b.IDs, b.Rows, b.T), b)
	}
	in := &Inputs{Tape: tape, Eval: eval}
	switch d.Kind {
	case PairedData:
		b.FillPairs(pick(d.Pairs, idx))
	case UnpairedData, ForgetData:
		items := pick(d.Unpaired, idx)
		b.FillUnpaired(items)
		in.Desirable = b.Desirable
		if t.flags.kl {
			t.aux.FillMismatched(items)
			pol, ref := t.scorer.LogProbs(t.aux, nil), t.Ref.LogProbs(t.aux, nil)
			in.KL = make([]float32, len(pol))
			for i := range pol {
				in.KL[i] = pol[i] - ref[i]
			}
		}
	case ListwiseData:
		b.FillLists(pick(d.Lists, idx))
		in.Scores, in.ListSizes = b.Scores, b.ListSizes
	}
	in.Logps, in.Lengths = forward(b), b.Lengths
	if t.flags.ref {
		in.Ref = b.Ref
		if in.Ref == nil {
			in.Ref = t.Ref.LogProbs(b, nil)
		}
	}
	if t.flags.retain && len(ridx) > 0 {
		t.aux.FillUnpaired(pick(d.Retain, ridx))
		in.RetainLogps, in.RetainLengths = forward(t.aux), t.aux.Lengths
	}
	return in
}

func pick[T any](s []T, idx []int) []T {
	out := make([]T, len(idx))
	for i, j := range idx {
		out[i] = s[j]
	}
	return out
}

// trainStep runs one optimizer step and returns its record.
func (t *Trainer) trainStep() (train.Record, error) {
	lr := t.cfg.LR
	if t.cfg.Schedule != nil {
		lr *= t.cfg.Schedule.Factor(t.step)
	}
	t.opt.SetLR(lr)
	t.idx = t.order.next(t.cfg.Batch, t.idx)
	t.ridx = t.ridx[:0]
	if t.flags.retain {
		t.ridx = t.retainOrder.next(t.cfg.Batch, t.ridx)
	}
	in := t.inputs(t.tape, t.data, t.idx, t.ridx, false)
	m := Metrics{}
	loss := t.loss.Compute(in, m)
	lv := float64(loss.Item())
	proxyKL(m, in, t.batch)
	loss.Backward()
	params := t.Policy.Parameters()
	defer func() {
		t.opt.ZeroGrad()
		t.tape.Reset()
	}()
	var bad error
	if math.IsNaN(lv) || math.IsInf(lv, 0) {
		bad = fmt.Errorf("align: step %d: loss %v is not finite (lower the learning rate or beta, or clip gradients)", t.step+1, lv)
	} else if err := optim.CheckFinite(params); err != nil {
		bad = fmt.Errorf("align: step %d: %w (loss %v; lower the learning rate or clip gradients)", t.step+1, err, lv)
	}
	if bad != nil && !t.cfg.SkipNonFinite {
		return train.Record{}, bad
	}
	norm := math.NaN()
	if bad == nil {
		norm = optim.GradNorm(params)
		if t.cfg.ClipNorm > 0 {
			optim.ClipGradNorm(params, t.cfg.ClipNorm)
		}
		if err := t.opt.Step(); err != nil {
			return train.Record{}, fmt.Errorf("align: step %d: %w", t.step+1, err)
		}
	} else {
		t.skipped++
	}
	t.step++
	rows := t.batch.Rows * t.batch.T
	if len(t.ridx) > 0 {
		rows += t.aux.Rows * t.aux.T
	}
	t.tokens += int64(rows)
	delete(m, "loss")
	if t.Refresh != nil && t.cfg.RefreshEvery > 0 {
		m["round"] = float64(t.round)
	}
	return train.Record{Step: t.step, Loss: lv, LR: lr, GradNorm: norm, Skipped: bad != nil, Tokens: t.tokens, Extra: m}, nil
}

// proxyKL logs the free off-policy KL proxy of spec §10.4: the mean
// log-ratio log π − log π_ref per completion token of the batch.
func proxyKL(m Metrics, in *Inputs, b *Batch) {
	if in.Ref == nil {
		return
	}
	lp := in.Logps.Value().Values()
	sum, n := 0.0, 0
	for i, v := range lp {
		sum += float64(v) - float64(in.Ref[i])
		n += b.Lengths[i]
	}
	m.set("kl/proxy", sum/float64(max(n, 1)))
}

// Evaluate measures the policy without changing it: the loss and its
// metrics over the held-out data (batch means weighted by batch size), the
// ranking accuracy of held-out pairs (sequence sums and per-token
// averages), the KL proxy, and the Probe's measurements (rule/rate,
// rule/rate_stderr, rule/mean_score, kl/k1, kl/k3, per token).
func (t *Trainer) Evaluate(ctx context.Context) (Metrics, error) {
	out := Metrics{}
	if d := t.eval; d != nil && d.Len() > 0 {
		sums := map[string]float64{}
		weight := 0.0
		var ranked []RankedPair
		var klSum float64
		klTokens := 0
		n := d.Len()
		idx := make([]int, 0, t.cfg.Batch)
		var ridx []int
		for lo := 0; lo < n; lo += t.cfg.Batch {
			idx = idx[:0]
			for i := lo; i < min(lo+t.cfg.Batch, n); i++ {
				idx = append(idx, i)
			}
			ridx = ridx[:0]
			if t.flags.retain && len(d.Retain) > 0 {
				for i := range idx {
					ridx = append(ridx, (lo+i)%len(d.Retain))
				}
			}
			in := t.inputs(t.evalTape, d, idx, ridx, true)
			m := Metrics{}
			t.loss.Compute(in, m)
			w := float64(len(idx))
			for k, v := range m {
				sums[k] += v * w
			}
			weight += w
			lp := in.Logps.Value().Values()
			if ref := t.batch.Ref; ref != nil {
				for i, v := range lp {
					klSum += float64(v) - float64(ref[i])
					klTokens += t.batch.Lengths[i]
				}
				if d.Kind == PairedData {
					ranked = append(ranked, RankedPairs(pick(d.Pairs, idx), t.batch, lp, ref)...)
				}
			}
			t.evalTape.Reset()
		}
		for k, v := range sums {
			out[k] = v / weight
		}
		if klTokens > 0 {
			out["kl/proxy"] = klSum / float64(klTokens)
		}
		if len(ranked) > 0 {
			out["ranking_accuracy"] = RankingAccuracy(ranked, RankingOptions{})
			out["ranking_accuracy_normalized"] = RankingAccuracy(ranked, RankingOptions{Normalized: true})
		}
	}
	if t.Probe != nil {
		r, err := t.Probe.Run(ctx, t.Policy, t.Ref)
		if err != nil {
			return nil, err
		}
		if r.Rule != "" {
			out["rule/rate"], out["rule/rate_stderr"], out["rule/mean_score"] = r.Rate, r.RateStdErr, r.MeanScore
		}
		if !math.IsNaN(r.KL) {
			out["kl/k1"], out["kl/k3"] = r.KL, r.KL3
		}
	}
	return out, nil
}
