package optim

import (
	"errors"
	"fmt"
	"math"

	"github.com/kiln-ml/kiln/autograd"
	"github.com/kiln-ml/kiln/kernels"
)

// AdamHF is the AdamW of the Hugging Face transformers library (its old
// transformers.AdamW class), which GaLore, Fira and Natural GaLore subclass
// and whose numbers depend on it. It differs from AdamTorch in two places:
// ε is added to the uncorrected √v, and the decoupled decay comes after the
// update, on the updated parameter:
//
//	m ← β1·m + (1−β1)·g,  v ← β2·v + (1−β2)·g²
//	p ← p − lr·(√(1−β2ᵗ)/(1−β1ᵗ)) · m/(√v + ε)
//	p ← p − lr·wd·p
//
// NoBiasCorrection (correct_bias=False) drops the factor √(1−β2ᵗ)/(1−β1ᵗ).
type AdamHF struct {
	Beta1, Beta2     float64
	Eps              float64 // ε ≥ 0; with ε = 0 a zero gradient on a zero moment gives 0/0 = NaN
	NoBiasCorrection bool
}

// Validate reports hyperparameters outside the ranges the reference accepts.
func (a AdamHF) Validate() error {
	return errors.Join(checkBeta("beta1", a.Beta1), checkBeta("beta2", a.Beta2), checkNonNeg("eps", a.Eps))
}

// Slots names the state: the two moments.
func (a AdamHF) Slots() []string { return []string{"exp_avg", "exp_avg_sq"} }

// scale returns the bias-correction factor of step t.
func (a AdamHF) scale(step int64) float64 {
	if a.NoBiasCorrection {
		return 1
	}
	bc1, bc2 := biasCorrections(a.Beta1, a.Beta2, step)
	return math.Sqrt(bc2) / bc1
}

// Update applies one step to p in place.
func (a AdamHF) Update(p, g []float32, s *TensorState, lr, wd float64) {
	checkLens("optim.AdamHF.Update", p, g, s, 2)
	s.Step++
	// The reference subtracts lr·wd·p after the update: the kernel does
	// that with the exact amount lr·wd (a factor 1−lr·wd would round it).
	kernels.AdamW(p, g, s.Buf[0], s.Buf[1], kernels.AdamWParams{
		Beta1: float32(a.Beta1), Beta2: float32(a.Beta2),
		OneMinusBeta1: oneMinus(a.Beta1), OneMinusBeta2: oneMinus(a.Beta2), Eps: float32(a.Eps),
		StepSize: float32(lr * a.scale(s.Step)), DenomScale: 1, DecayPre: 1, DecayPost: 1,
		DecayAfter: float32(lr * wd),
	})
}

// Direction advances s with g and writes m/(√v + ε) into d; the scale is
// √(1−β2ᵗ)/(1−β1ᵗ), or 1 without bias correction.
func (a AdamHF) Direction(d, g []float32, s *TensorState) float64 {
	checkLens("optim.AdamHF.Direction", d, g, s, 2)
	s.Step++
	g, m, v := g[:len(d)], s.Buf[0][:len(d)], s.Buf[1][:len(d)]
	b1, c1, b2, c2, eps := float32(a.Beta1), oneMinus(a.Beta1), float32(a.Beta2), oneMinus(a.Beta2), float32(a.Eps)
	for i := range d {
		gi := g[i]
		mi := float32(b1*m[i]) + float32(c1*gi)
		vi := float32(b2*v[i]) + float32(float32(c2*gi)*gi)
		m[i], v[i] = mi, vi
		d[i] = mi / (float32(math.Sqrt(float64(vi))) + eps)
	}
	return a.scale(s.Step)
}

// decayAfter sets p -= c*p, rounded as the kernel's DecayAfter is.
func decayAfter(p []float32, c float32) {
	l := newLoop(decayAfterLoop)
	l.p = p
	l.k[0] = c
	l.do(len(p))
}

func decayAfterLoop(l *loop, lo, hi int) {
	p, c := l.p[lo:hi], l.k[0]
	for i, x := range p {
		p[i] = x - float32(c*x)
	}
}

// HFAdamWConfig holds the hyperparameters of the Hugging Face-style AdamW.
// A zero field takes the reference's default, noted beside it.
type HFAdamWConfig struct {
	LR               float64    // learning rate (default 1e-3)
	Betas            [2]float64 // moment decay rates β1, β2 in [0, 1) (default 0.9, 0.999; both zero means the default)
	Eps              float64    // ε > 0 added to the uncorrected √v (default 1e-6)
	WeightDecay      float64    // decay after the update, p ← p − lr·wd·p (default 0)
	NoBiasCorrection bool       // correct_bias=False (default: correct)
}

// HFAdamW is the Hugging Face-style AdamW applied to a set of parameters.
type HFAdamW struct{ coreOptimizer }

// NewHFAdamW returns the Hugging Face-style AdamW (see AdamHF) over params.
// Groups override the learning rate and weight decay of some parameters (see
// Group); parameters no group claims get the default grouping (see
// DefaultDecay).
func NewHFAdamW(params []*autograd.Var, cfg HFAdamWConfig, groups ...Group) (*HFAdamW, error) {
	lr, betas, eps := orDefault(cfg.LR, 1e-3), betasOrDefault(cfg.Betas, 0.9, 0.999), orDefault(cfg.Eps, 1e-6)
	core := AdamHF{Beta1: betas[0], Beta2: betas[1], Eps: eps, NoBiasCorrection: cfg.NoBiasCorrection}
	if err := errors.Join(checkLR(cfg.LR), core.Validate(), checkPositive("eps", cfg.Eps, true), checkNonNeg("weight decay", cfg.WeightDecay)); err != nil {
		return nil, fmt.Errorf("optim.NewHFAdamW: invalid config: %w", err)
	}
	o, err := newCoreOptimizer("adamw-hf", params, core, lr, cfg.WeightDecay, groups)
	if err != nil {
		return nil, fmt.Errorf("optim.NewHFAdamW: %w", err)
	}
	return &HFAdamW{o}, nil
}
