package optim

import (
	"errors"
	"fmt"

	"github.com/kiln-ml/kiln/autograd"
	"github.com/kiln-ml/kiln/kernels"
)

// LionCore is Lion ("Symbolic Discovery of Optimization Algorithms") as
// google/automl's lion_pytorch.py defines it: the sign of an interpolation
// between the old momentum and the gradient, and decoupled decay first:
//
//	p ← p·(1 − lr·wd)
//	p ← p − lr·sign(β1·m + (1−β1)·g)      (sign(0) = 0)
//	m ← β2·m + (1−β2)·g
type LionCore struct {
	Beta1, Beta2 float64
}

// Validate reports hyperparameters outside the ranges the reference accepts.
func (c LionCore) Validate() error {
	return errors.Join(checkBeta("beta1", c.Beta1), checkBeta("beta2", c.Beta2))
}

// Slots names the state: the momentum, "exp_avg" as in the reference.
func (c LionCore) Slots() []string { return []string{"exp_avg"} }

// Update applies one Lion step to p in place.
func (c LionCore) Update(p, g []float32, s *TensorState, lr, wd float64) {
	checkLens("optim.LionCore.Update", p, g, s, 1)
	s.Step++
	kernels.Lion(p, g, s.Buf[0], kernels.LionParams{
		LR: float32(lr), Beta1: float32(c.Beta1), Beta2: float32(c.Beta2), Decay: float32(1 - lr*wd),
		OneMinusBeta1: oneMinus(c.Beta1), OneMinusBeta2: oneMinus(c.Beta2),
	})
}

// Direction advances s with g and writes sign(β1·m + (1−β1)·g) into d; the
// scale is 1.
func (c LionCore) Direction(d, g []float32, s *TensorState) float64 {
	checkLens("optim.LionCore.Direction", d, g, s, 1)
	s.Step++
	g, m := g[:len(d)], s.Buf[0][:len(d)]
	b1, c1, b2, c2 := float32(c.Beta1), oneMinus(c.Beta1), float32(c.Beta2), oneMinus(c.Beta2)
	for i := range d {
		gi := g[i]
		u := float32(b1*m[i]) + float32(c1*gi)
		m[i] = float32(b2*m[i]) + float32(c2*gi)
		switch {
		case u > 0:
			d[i] = 1
		case u < 0:
			d[i] = -1
		default: // zero stays zero; NaN passes through, as with torch.sign
			d[i] = u
		}
	}
	return 1
}

// LionConfig holds the hyperparameters of Lion. A zero field takes the
// default of the reference implementation, noted beside it. Lion wants a
// learning rate 3-10x smaller and a weight decay 3-10x larger than AdamW.
type LionConfig struct {
	LR          float64    // learning rate (default 1e-4)
	Betas       [2]float64 // β1 (interpolation) and β2 (momentum) in [0, 1) (default 0.9, 0.99; both zero means the default)
	WeightDecay float64    // decoupled decay: p ← p·(1 − lr·wd) each step (default 0)
}

// Lion is the Lion optimizer applied to a set of parameters.
type Lion struct{ coreOptimizer }

// NewLion returns Lion over params. Groups override the learning rate and
// weight decay of some parameters (see Group); parameters no group claims get
// the default grouping (see DefaultDecay).
func NewLion(params []*autograd.Var, cfg LionConfig, groups ...Group) (*Lion, error) {
	betas := betasOrDefault(cfg.Betas, 0.9, 0.99)
	core := LionCore{Beta1: betas[0], Beta2: betas[1]}
	if err := errors.Join(checkLR(cfg.LR), core.Validate(), checkNonNeg("weight decay", cfg.WeightDecay)); err != nil {
		return nil, fmt.Errorf("optim.NewLion: invalid config: %w", err)
	}
	o, err := newCoreOptimizer("lion", params, core, orDefault(cfg.LR, 1e-4), cfg.WeightDecay, groups)
	if err != nil {
		return nil, fmt.Errorf("optim.NewLion: %w", err)
	}
	return &Lion{o}, nil
}
