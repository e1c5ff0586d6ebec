package optim

import (
	"errors"
	"fmt"

	"github.com/kiln-ml/kiln/autograd"
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

// Update applies one SGD step to p in place.
func (c SGDCore) Update(p, g []float32, s *TensorState, lr, wd float64) {
	checkLens("optim.SGDCore.Update", p, g, s, c.slots())
	c.run(p, p, g, s, float32(lr), float32(wd))
}

// Direction advances s with g and writes the step direction into d (the
// momentum buffer, or its Nesterov form, or g itself); the scale is 1.
func (c SGDCore) Direction(d, g []float32, s *TensorState) float64 {
	checkLens("optim.SGDCore.Direction", d, g, s, c.slots())
	c.run(nil, d, g, s, 0, 0)
	return 1
}

// run updates p (when not nil) or writes the direction into d.
func (c SGDCore) run(p, d, g []float32, s *TensorState, lr, wd float32) {
	first := s.Step == 0
	s.Step++
	l := newLoop(sgdLoop)
	l.p, l.g, l.a = p, g, d
	if c.Momentum != 0 {
		l.b = s.Buf[0]
	}
	l.k = [10]float32{lr, wd, float32(c.Momentum), float32(1 - c.Dampening)}
	if c.Nesterov {
		l.k[4] = 1
	}
	if first {
		l.k[5] = 1
	}
	l.do(len(g))
}

func sgdLoop(l *loop, lo, hi int) {
	g := l.g[lo:hi]
	lr, wd, mu, damp, nesterov, first := l.k[0], l.k[1], l.k[2], l.k[3], l.k[4] != 0, l.k[5] != 0
	var p, buf, d []float32
	if l.p != nil {
		p = l.p[lo:hi]
		p = p[:len(g)]
	}
	if l.b != nil {
		buf = l.b[lo:hi]
		buf = buf[:len(g)]
	}
	if l.a != nil {
		d = l.a[lo:hi]
		d = d[:len(g)]
	}
	// The common cases of training get loops without branches.
	n := len(g)
	switch {
	case p != nil && buf == nil && wd == 0:
		p := p[:n]
		for i, gi := range g {
			p[i] -= lr * gi
		}
		return
	case p != nil && buf != nil && !first && !nesterov:
		p, buf := p[:n], buf[:n]
		if wd == 0 {
			for i, gi := range g {
				b := mu*buf[i] + damp*gi
				buf[i] = b
				p[i] -= lr * b
			}
			return
		}
		for i, gi := range g {
			gi += wd * p[i]
			b := mu*buf[i] + damp*gi
			buf[i] = b
			p[i] -= lr * b
		}
		return
	}
	for i, gi := range g {
		if wd != 0 {
			gi += wd * p[i]
		}
		if buf != nil {
			b := gi
			if !first {
				b = mu*buf[i] + damp*gi
			}
			buf[i] = b
			if nesterov {
				gi += mu * b
			} else {
				gi = b
			}
		}
		if p != nil {
			p[i] -= lr * gi
		} else {
			d[i] = gi
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
