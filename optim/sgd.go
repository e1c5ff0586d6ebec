package optim

import (
	"errors"
	"fmt"

	"github.com/kiln-ml/kiln/autograd"
	"github.com/kiln-ml/kiln/kernels"
)

// SGDCore is stochastic gradient descent as torch.optim.SGD defines it:
//
//	g ← g + wd·p
//	b ← g on the first step, else μ·b + (1−dampening)·g
//	g ← g + μ·b with Nesterov, else b      (only when μ ≠ 0)
//	p ← p − lr·g
type SGDCore struct {
	Momentum  float64 // μ in [0, 1); 0 keeps no state
	Dampening float64 // in [0, 1]
	Nesterov  bool    // needs Momentum > 0 and Dampening = 0
}

// Validate reports hyperparameters outside the accepted ranges.
func (c SGDCore) Validate() error {
	var errs []error
	if err := checkBeta("momentum", c.Momentum); err != nil {
		errs = append(errs, err)
	}
	if !(c.Dampening >= 0 && c.Dampening <= 1) {
		errs = append(errs, fmt.Errorf("dampening %v must be in [0, 1]", c.Dampening))
	}
	if c.Nesterov && (c.Momentum <= 0 || c.Dampening != 0) {
		errs = append(errs, fmt.Errorf("momentum %v with dampening %v cannot be Nesterov momentum, which needs a positive momentum and zero dampening", c.Momentum, c.Dampening))
	}
	return errors.Join(errs...)
}

// Slots names the state: the momentum buffer, if there is momentum.
func (c SGDCore) Slots() []string {
	if c.Momentum == 0 {
		return nil
	}
	return []string{"momentum_buffer"}
}

func (c SGDCore) slots() int {
	if c.Momentum == 0 {
		return 0
	}
	return 1
}

// Update applies one SGD step to p in place, with the fused kernel.
func (c SGDCore) Update(p, g []float32, s *TensorState, lr, wd float64) {
	checkLens("optim.SGDCore.Update", p, g, s, c.slots())
	var buf []float32
	if c.Momentum != 0 {
		buf = s.Buf[0]
	}
	first := s.Step == 0
	s.Step++
	kernels.SGD(p, g, buf, kernels.SGDParams{
		LR: float32(lr), Momentum: float32(c.Momentum), WeightDecay: float32(wd),
		Dampening: float32(c.Dampening), OneMinusDampening: oneMinus(c.Dampening),
		Nesterov: c.Nesterov, First: first,
	})
}

// Direction advances s with g and writes the step direction into d (the
// momentum buffer, or its Nesterov form, or g itself); the scale is 1.
func (c SGDCore) Direction(d, g []float32, s *TensorState) float64 {
	checkLens("optim.SGDCore.Direction", d, g, s, c.slots())
	first := s.Step == 0
	s.Step++
	if c.Momentum == 0 {
		copy(d, g)
		return 1
	}
	l := newLoop(sgdDirectionLoop)
	l.g, l.a, l.b = g, d, s.Buf[0]
	l.k = [10]float32{float32(c.Momentum), oneMinus(c.Dampening)}
	if c.Nesterov {
		l.k[2] = 1
	}
	if first {
		l.k[3] = 1
	}
	l.do(len(d))
	return 1
}

// sgdDirectionLoop is the momentum part of kernels.SGD, writing the
// direction instead of updating a parameter, rounded as the kernel rounds.
func sgdDirectionLoop(l *loop, lo, hi int) {
	d := l.a[lo:hi]
	g, buf := l.g[lo:hi], l.b[lo:hi]
	g, buf = g[:len(d)], buf[:len(d)]
	mu, c, nesterov, first := l.k[0], l.k[1], l.k[2] != 0, l.k[3] != 0
	for i, gi := range g {
		b := gi
		if !first {
			b = float32(mu*buf[i]) + float32(c*gi)
		}
		buf[i] = b
		if nesterov {
			d[i] = gi + float32(mu*b)
		} else {
			d[i] = b
		}
	}
}

// SGDConfig holds the hyperparameters of SGD. A zero field takes the default
// of torch.optim.SGD, noted beside it.
type SGDConfig struct {
	LR          float64 // learning rate (default 1e-3)
	Momentum    float64 // momentum μ in [0, 1) (default 0)
	Dampening   float64 // dampening of the momentum in [0, 1] (default 0)
	Nesterov    bool    // Nesterov momentum (default false)
	WeightDecay float64 // L2 penalty added to the gradient, wd·p (default 0)
}

// SGD is PyTorch's SGD applied to a set of parameters.
type SGD struct{ coreOptimizer }

// NewSGD returns torch.optim.SGD over params. Groups override the learning
// rate and weight decay of some parameters (see Group); parameters no group
// claims get the default grouping (see DefaultDecay).
func NewSGD(params []*autograd.Var, cfg SGDConfig, groups ...Group) (*SGD, error) {
	core := SGDCore{Momentum: cfg.Momentum, Dampening: cfg.Dampening, Nesterov: cfg.Nesterov}
	if err := errors.Join(checkLR(cfg.LR), core.Validate(), checkNonNeg("weight decay", cfg.WeightDecay)); err != nil {
		return nil, fmt.Errorf("optim.NewSGD: invalid config: %w", err)
	}
	o, err := newCoreOptimizer("sgd", params, core, orDefault(cfg.LR, 1e-3), cfg.WeightDecay, groups)
	if err != nil {
		return nil, fmt.Errorf("optim.NewSGD: %w", err)
	}
	return &SGD{o}, nil
}
