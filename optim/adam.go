package optim

import (
	"errors"
	"fmt"
	"math"

	"github.com/kiln-ml/kiln/autograd"
	"github.com/kiln-ml/kiln/kernels"
)

// AdamTorch is Adam as PyTorch's torch.optim.Adam and AdamW define it ("Adam:
// A Method for Stochastic Optimization"; "Decoupled Weight Decay
// Regularization"): with bias-corrected moments and ε added to the
// bias-corrected root mean square,
//
//	m ← β1·m + (1−β1)·g,  v ← β2·v + (1−β2)·g²
//	p ← p − (lr/(1−β1ᵗ)) · m / (√v/√(1−β2ᵗ) + ε)
//
// Weight decay is coupled (g ← g + wd·p, Adam) or, with Decoupled,
// p ← p·(1 − lr·wd) before the update (AdamW). With AMSGrad the
// denominator uses the running maximum of v.
type AdamTorch struct {
	Beta1, Beta2 float64
	Eps          float64 // ε ≥ 0; with ε = 0 a zero gradient on a zero moment gives 0/0 = NaN, as in PyTorch
	Decoupled    bool
	AMSGrad      bool
}

// Validate reports hyperparameters outside the ranges PyTorch accepts.
func (a AdamTorch) Validate() error {
	return errors.Join(checkBeta("beta1", a.Beta1), checkBeta("beta2", a.Beta2), checkNonNeg("eps", a.Eps))
}

// Slots names the state: the moments, and their running maximum with AMSGrad.
func (a AdamTorch) Slots() []string {
	if a.AMSGrad {
		return []string{"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
	}
	return []string{"exp_avg", "exp_avg_sq"}
}

// slots returns len(a.Slots()) without allocating.
func (a AdamTorch) slots() int {
	if a.AMSGrad {
		return 3
	}
	return 2
}

// Update applies one Adam step to p in place.
func (a AdamTorch) Update(p, g []float32, s *TensorState, lr, wd float64) {
	checkLens("optim.AdamTorch.Update", p, g, s, a.slots())
	s.Step++
	bc1, bc2 := biasCorrections(a.Beta1, a.Beta2, s.Step)
	decay := 1.0
	if a.Decoupled {
		decay = 1 - lr*wd
	}
	if !a.AMSGrad && (wd == 0 || a.Decoupled) {
		kernels.AdamW(p, g, s.Buf[0], s.Buf[1], kernels.AdamWParams{
			Beta1: float32(a.Beta1), Beta2: float32(a.Beta2),
			OneMinusBeta1: oneMinus(a.Beta1), OneMinusBeta2: oneMinus(a.Beta2), Eps: float32(a.Eps),
			StepSize: float32(lr / bc1), DenomScale: float32(1 / math.Sqrt(bc2)),
			DecayPre: float32(decay), DecayPost: 1,
		})
		return
	}
	l2 := 0.0
	if !a.Decoupled {
		l2 = wd
	}
	l := newLoop(adamTorchLoop)
	l.p, l.g, l.a, l.b = p, g, s.Buf[0], s.Buf[1]
	if a.AMSGrad {
		l.c = s.Buf[2]
	}
	l.k = [10]float32{float32(a.Beta1), oneMinus(a.Beta1), float32(a.Beta2), oneMinus(a.Beta2),
		float32(a.Eps), float32(lr / bc1), float32(1 / math.Sqrt(bc2)), float32(l2), float32(decay)}
	l.do(len(p))
}

// adamTorchLoop is AdamTorch.Update where the fused kernel does not apply:
// with AMSGrad or a coupled (L2) weight decay.
func adamTorchLoop(l *loop, lo, hi int) {
	p := l.p[lo:hi]
	g, m, v := l.g[lo:hi], l.a[lo:hi], l.b[lo:hi]
	g, m, v = g[:len(p)], m[:len(p)], v[:len(p)]
	var vmax []float32
	if l.c != nil {
		vmax = l.c[lo:hi]
		vmax = vmax[:len(p)]
	}
	b1, c1, b2, c2, eps, step, ds, wd, decay := l.k[0], l.k[1], l.k[2], l.k[3], l.k[4], l.k[5], l.k[6], l.k[7], l.k[8]
	// As in the kernels, converting each product to float32 keeps the
	// compiler from fusing it with the sum that follows, so that every
	// path rounds alike.
	for i := range p {
		x := p[i]
		gi := g[i]
		if wd != 0 {
			gi += float32(wd * x)
		}
		x = float32(x * decay)
		mi := float32(b1*m[i]) + float32(c1*gi)
		vi := float32(b2*v[i]) + float32(float32(c2*gi)*gi)
		m[i], v[i] = mi, vi
		if vmax != nil {
			vi = max(vmax[i], vi)
			vmax[i] = vi
		}
		p[i] = x - step*mi/(float32(float32(math.Sqrt(float64(vi)))*ds)+eps)
	}
}

// Direction advances s with g and writes m/(√v/√(1−β2ᵗ) + ε) into d; the
// scale is 1/(1−β1ᵗ).
func (a AdamTorch) Direction(d, g []float32, s *TensorState) float64 {
	checkLens("optim.AdamTorch.Direction", d, g, s, a.slots())
	s.Step++
	bc1, bc2 := biasCorrections(a.Beta1, a.Beta2, s.Step)
	g, m, v := g[:len(d)], s.Buf[0][:len(d)], s.Buf[1][:len(d)]
	var vmax []float32
	if a.AMSGrad {
		vmax = s.Buf[2][:len(d)]
	}
	b1, c1, b2, c2 := float32(a.Beta1), oneMinus(a.Beta1), float32(a.Beta2), oneMinus(a.Beta2)
	eps, ds := float32(a.Eps), float32(1/math.Sqrt(bc2))
	for i := range d {
		gi := g[i]
		mi := float32(b1*m[i]) + float32(c1*gi)
		vi := float32(b2*v[i]) + float32(float32(c2*gi)*gi)
		m[i], v[i] = mi, vi
		if vmax != nil {
			vi = max(vmax[i], vi)
			vmax[i] = vi
		}
		d[i] = mi / (float32(float32(math.Sqrt(float64(vi)))*ds) + eps)
	}
	return 1 / bc1
}

// oneMinus returns the weight 1−β of the new value in a moving average,
// rounded to float32 from float64 as PyTorch rounds it. (1 − float32(β)
// would be 1.3e-5 relative off for β = 0.999.) Every path of an optimizer,
// the fused kernels included, uses this weight, so that all round alike.
func oneMinus(beta float64) float32 { return float32(1 - beta) }

// biasCorrections returns 1−β1ᵗ and 1−β2ᵗ, with math.Pow as PyTorch does.
func biasCorrections(beta1, beta2 float64, step int64) (bc1, bc2 float64) {
	t := float64(step)
	return 1 - math.Pow(beta1, t), 1 - math.Pow(beta2, t)
}

// AdamConfig holds the hyperparameters of Adam. A zero field takes the
// default of torch.optim.Adam, noted beside it.
type AdamConfig struct {
	LR          float64    // learning rate (default 1e-3)
	Betas       [2]float64 // moment decay rates β1, β2 in [0, 1) (default 0.9, 0.999; both zero means the default)
	Eps         float64    // ε > 0 added to the denominator (default 1e-8)
	WeightDecay float64    // L2 penalty added to the gradient, wd·p (default 0)
	AMSGrad     bool       // use the running maximum of the second moment (default false)
}

// AdamWConfig holds the hyperparameters of AdamW. A zero field takes the
// default of torch.optim.AdamW, noted beside it.
type AdamWConfig struct {
	LR            float64    // learning rate (default 1e-3)
	Betas         [2]float64 // moment decay rates β1, β2 in [0, 1) (default 0.9, 0.999; both zero means the default)
	Eps           float64    // ε > 0 added to the denominator (default 1e-8)
	WeightDecay   float64    // decoupled decay: p ← p·(1 − lr·wd) each step (default 1e-2)
	NoWeightDecay bool       // turn weight decay off (a zero WeightDecay means the default)
	AMSGrad       bool       // use the running maximum of the second moment (default false)
}

// Adam is PyTorch's Adam or AdamW applied to a set of parameters.
type Adam struct{ coreOptimizer }

// NewAdam returns torch.optim.Adam over params. Groups override the learning
// rate and weight decay of some parameters (see Group); parameters no group
// claims get the default grouping (see DefaultDecay).
func NewAdam(params []*autograd.Var, cfg AdamConfig, groups ...Group) (*Adam, error) {
	lr, betas, eps := orDefault(cfg.LR, 1e-3), betasOrDefault(cfg.Betas, 0.9, 0.999), orDefault(cfg.Eps, 1e-8)
	core := AdamTorch{Beta1: betas[0], Beta2: betas[1], Eps: eps, AMSGrad: cfg.AMSGrad}
	if err := errors.Join(checkLR(cfg.LR), core.Validate(), checkPositive("eps", cfg.Eps, true), checkNonNeg("weight decay", cfg.WeightDecay)); err != nil {
		return nil, fmt.Errorf("optim.NewAdam: invalid config: %w", err)
	}
	o, err := newCoreOptimizer("adam", params, core, lr, cfg.WeightDecay, groups)
	if err != nil {
		return nil, fmt.Errorf("optim.NewAdam: %w", err)
	}
	return &Adam{o}, nil
}

// NewAdamW returns torch.optim.AdamW over params. Groups override the
// learning rate and weight decay of some parameters (see Group); parameters
// no group claims get the default grouping, which exempts biases, norms,
// embeddings and other 1-D parameters from decay (see DefaultDecay).
func NewAdamW(params []*autograd.Var, cfg AdamWConfig, groups ...Group) (*Adam, error) {
	lr, betas, eps := orDefault(cfg.LR, 1e-3), betasOrDefault(cfg.Betas, 0.9, 0.999), orDefault(cfg.Eps, 1e-8)
	wd := orDefault(cfg.WeightDecay, 1e-2)
	if cfg.NoWeightDecay {
		wd = 0
	}
	core := AdamTorch{Beta1: betas[0], Beta2: betas[1], Eps: eps, Decoupled: true, AMSGrad: cfg.AMSGrad}
	var conflict error
	if cfg.NoWeightDecay && cfg.WeightDecay != 0 {
		conflict = fmt.Errorf("NoWeightDecay is set together with weight decay %v: set one of them", cfg.WeightDecay)
	}
	if err := errors.Join(checkLR(cfg.LR), core.Validate(), checkPositive("eps", cfg.Eps, true), checkNonNeg("weight decay", cfg.WeightDecay), conflict); err != nil {
		return nil, fmt.Errorf("optim.NewAdamW: invalid config: %w", err)
	}
	o, err := newCoreOptimizer("adamw", params, core, lr, wd, groups)
	if err != nil {
		return nil, fmt.Errorf("optim.NewAdamW: %w", err)
	}
	return &Adam{o}, nil
}
