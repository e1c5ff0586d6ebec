package autolrs

import (
	"fmt"
	"math"
)

// Defaults of the official code (constants in autolrs_server.py).
const (
	// DefaultProbes is the number of learning rates tried per stage (k).
	DefaultProbes = 10
	// DefaultStageSteps is the length of the first stage's training at its chosen rate (τ).
	DefaultStageSteps = 1000
	// DefaultKappa is the exploration weight of the lower-confidence-bound acquisition.
	DefaultKappa = 1e6
	// DefaultDivergedLoss is the value a probe with non-finite losses is scored with.
	DefaultDivergedLoss = 1e6
	// DefaultValidationPoints is the number of validation losses measured per probe.
	DefaultValidationPoints = 16
)

// Config holds the AutoLRS settings. Only MinLR and MaxLR are required; a
// zero field takes the official code's default, noted on each field.
type Config struct {
	// MinLR and MaxLR bound the learning rates searched, log-uniformly
	// (0 < MinLR < MaxLR; required).
	MinLR, MaxLR float64
	// Probes is the number of learning rates tried per stage (k; default 10).
	Probes int
	// StageSteps is the number of steps the first stage trains at its chosen
	// rate (τ; default 1000).
	StageSteps int
	// ProbeSteps is the number of steps each probe of the first stage trains
	// (τ'; default StageSteps/10, that is 100). The forecaster needs at
	// least 3.
	ProbeSteps int
	// MaxStageSteps stops the stages from growing: after every full stage
	// whose StageSteps is below it, both τ and τ' double (τ_max; default
	// 8·StageSteps, that is 8000, giving stages of 1000, 2000, 4000, 8000,
	// 8000, … steps).
	MaxStageSteps int
	// Kappa is κ in the acquisition μ(lr) − κ·σ(lr) that picks the next probe
	// (default 1e6, which makes the search fill the interval where the GP is
	// least certain).
	Kappa float64
	// DivergedLoss is the forecast recorded for a probe whose losses are NaN
	// or infinite (default 1e6).
	DivergedLoss float64
	// WarmupSteps and WarmupLR give a linear warmup before the first stage,
	// lr_t = WarmupLR·(t+1)/WarmupSteps for t < WarmupSteps (default none).
	WarmupSteps int
	WarmupLR    float64
	// ValidationPoints is the number of validation losses measured during
	// each probe once the stages have stopped growing, when the trainer is a
	// Validator (default 16; at most τ').
	ValidationPoints int
	// NoValidation keeps forecasting from training losses even when the
	// trainer is a Validator.
	NoValidation bool
	// Seed seeds the draw of each stage's first probe, the only random choice.
	Seed uint64
	// OnProbe, if set, is called after every probe.
	OnProbe func(Probe)
	// OnStage, if set, is called after every stage.
	OnStage func(StageReport)
}

// withDefaults validates c and returns it with its zero fields set to the
// defaults.
func (c Config) withDefaults() (Config, error) {
	finitePos := func(v float64) bool { return v > 0 && !math.IsInf(v, 0) }
	if !finitePos(c.MinLR) || !finitePos(c.MaxLR) {
		return c, fmt.Errorf("autolrs: learning-rate bounds must be positive and finite, have MinLR=%g MaxLR=%g", c.MinLR, c.MaxLR)
	}
	if !(c.MinLR < c.MaxLR) {
		return c, fmt.Errorf("autolrs: MinLR must be below MaxLR, have MinLR=%g MaxLR=%g", c.MinLR, c.MaxLR)
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"Probes", c.Probes}, {"StageSteps", c.StageSteps}, {"ProbeSteps", c.ProbeSteps},
		{"MaxStageSteps", c.MaxStageSteps}, {"WarmupSteps", c.WarmupSteps}, {"ValidationPoints", c.ValidationPoints}} {
		if f.v < 0 {
			return c, fmt.Errorf("autolrs: %s must not be negative, have %d", f.name, f.v)
		}
	}
	if c.Probes == 0 {
		c.Probes = DefaultProbes
	}
	if c.StageSteps == 0 {
		c.StageSteps = DefaultStageSteps
	}
	if c.ProbeSteps == 0 {
		c.ProbeSteps = c.StageSteps / 10
	}
	if c.ProbeSteps < 3 {
		return c, fmt.Errorf("autolrs: ProbeSteps must be at least 3 (the loss forecaster fits a curve), have %d", c.ProbeSteps)
	}
	if c.MaxStageSteps == 0 {
		c.MaxStageSteps = 8 * c.StageSteps
	}
	if c.Kappa < 0 || math.IsNaN(c.Kappa) || math.IsInf(c.Kappa, 0) {
		return c, fmt.Errorf("autolrs: Kappa must be finite and not negative, have %g", c.Kappa)
	}
	if c.Kappa == 0 {
		c.Kappa = DefaultKappa
	}
	if math.IsNaN(c.DivergedLoss) || math.IsInf(c.DivergedLoss, 0) {
		return c, fmt.Errorf("autolrs: DivergedLoss must be finite, have %g", c.DivergedLoss)
	}
	if c.DivergedLoss == 0 {
		c.DivergedLoss = DefaultDivergedLoss
	}
	if c.WarmupSteps > 0 && !finitePos(c.WarmupLR) {
		return c, fmt.Errorf("autolrs: WarmupLR must be positive and finite with WarmupSteps=%d, have %g", c.WarmupSteps, c.WarmupLR)
	}
	if c.ValidationPoints == 0 {
		c.ValidationPoints = DefaultValidationPoints
	}
	if c.ValidationPoints < 3 {
		return c, fmt.Errorf("autolrs: ValidationPoints must be at least 3 (the loss forecaster fits a curve), have %d", c.ValidationPoints)
	}
	return c, nil
}
