package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"

	"github.com/kiln-ml/kiln/nn/safetensors"
	"github.com/kiln-ml/kiln/optim/autolrs"
	"github.com/kiln-ml/kiln/tensor"
)

// StageLog is what a run with AutoLRS records per stage, in autolrs.jsonl.
type StageLog struct {
	Stage     int       `json:"stage"`
	LR        float64   `json:"lr"`
	EndStep   int       `json:"end_step"`
	ProbeLRs  []float64 `json:"probe_lrs"`
	Forecasts []float64 `json:"probe_forecasts"`
}

// Stages returns the stages of the last AutoLRS run, in order.
func (t *Trainer) Stages() []StageLog { return t.stages }

// runAutoLRS trains the remaining steps with the learning rate chosen by
// the AutoLRS controller.
func (t *Trainer) runAutoLRS(ctx context.Context, r *run) error {
	cfg := *t.cfg.AutoLRS
	prevStage := cfg.OnStage
	cfg.OnStage = func(s autolrs.StageReport) {
		l := StageLog{Stage: s.Stage, LR: s.LR, EndStep: t.step}
		for _, p := range s.Probes {
			l.ProbeLRs = append(l.ProbeLRs, p.LR)
			f := p.Forecast
			if math.IsNaN(f) || math.IsInf(f, 0) {
				f = -1
			}
			l.Forecasts = append(l.Forecasts, f)
		}
		t.stages = append(t.stages, l)
		if prevStage != nil {
			prevStage(s)
		}
	}
	ctrl, err := autolrs.New(cfg)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	a := &autolrsAdapter{t: t, r: r}
	_, err = ctrl.Run(ctx, a, t.cfg.Steps-t.step)
	if err == nil && a.err != nil {
		err = a.err
	}
	if err == nil && t.cfg.OutDir != "" {
		err = t.writeStages()
	}
	return err
}

// writeStages writes autolrs.jsonl and a plot of the learning rate by step.
func (t *Trainer) writeStages() error {
	var buf []byte
	for _, s := range t.stages {
		b, err := json.Marshal(s)
		if err != nil {
			return err
		}
		buf = append(append(buf, b...), '\n')
	}
	if err := writeFileAtomic(filepath.Join(t.cfg.OutDir, "autolrs.jsonl"), buf); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	recs, err := ReadMetrics(t.MetricsPath())
	if err != nil || len(recs) < 2 {
		return err
	}
	var lr Series
	lr.Name = "learning rate (probes and stages)"
	for _, r := range recs {
		lr.X = append(lr.X, float64(r.Step))
		lr.Y = append(lr.Y, math.Log10(r.LR))
	}
	return PlotLines(filepath.Join(t.cfg.OutDir, "autolrs.png"), "AutoLRS learning rate", "step", "log10 learning rate", lr)
}

// autolrsAdapter lets the AutoLRS controller drive the trainer: it keeps
// one in-memory copy of the weights and the optimizer state.
type autolrsAdapter struct {
	t       *Trainer
	r       *run
	weights [][]float32
	optT    map[string]safetensors.Tensor
	optB    []byte
	err     error // a step error, kept so the controller's error is not the only word
}

func (a *autolrsAdapter) Checkpoint() error {
	if a.weights == nil {
		for _, p := range a.t.params {
			a.weights = append(a.weights, make([]float32, p.Value().Size()))
		}
	}
	for i, p := range a.t.params {
		copy(a.weights[i], p.Value().Contiguous().Data())
	}
	if s, ok := a.t.parts["optim"]; ok {
		ts, blob, err := s.SaveState()
		if err != nil {
			return err
		}
		// SaveState may share buffers with the live state: copy.
		a.optT = make(map[string]safetensors.Tensor, len(ts))
		for k, v := range ts {
			v.Data = append([]byte(nil), v.Data...)
			a.optT[k] = v
		}
		a.optB = append([]byte(nil), blob...)
	}
	return nil
}

func (a *autolrsAdapter) Restore() error {
	if a.weights == nil {
		return errors.New("train: AutoLRS restore before any checkpoint")
	}
	for i, p := range a.t.params {
		p.Value().CopyFrom(tensor.FromSlice(a.weights[i], p.Shape()...))
	}
	if s, ok := a.t.parts["optim"]; ok {
		return s.LoadState(a.optT, a.optB)
	}
	return nil
}

func (a *autolrsAdapter) Train(ctx context.Context, lr float64, losses []float64) error {
	for i := range losses {
		rec, err := a.t.oneStep(ctx, a.r, lr)
		if err != nil {
			a.err = err
			return err
		}
		losses[i] = rec.Loss
	}
	return nil
}

// ValidationLoss lets the controller forecast from validation losses in
// its late stages.
func (a *autolrsAdapter) ValidationLoss(ctx context.Context) (float64, error) {
	return a.t.Evaluate(a.t.cfg.EvalBatches), ctx.Err()
}
