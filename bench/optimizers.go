package bench

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/kiln-ml/kiln/autograd"
	"github.com/kiln-ml/kiln/optim"
)

// OptimizerNames lists the optimizers the suite compares, in table order.
func OptimizerNames() []string {
	return []string{"sgd", "adamw", "lion", optim.KindGaLore, optim.KindNaturalGaLore, optim.KindFira}
}

// isLowRank reports whether name is GaLore, Natural GaLore or Fira.
func isLowRank(name string) bool { return slices.Contains(optim.LowRankKinds(), name) }

// lrCentres are a task's sweep centres, one per optimizer, chosen from
// pilot sweeps of 5 rates so that the best rate of a 3-rate sweep usually
// lies inside it.
type lrCentres map[string]float64

// centre returns the centre for optimizer, or AdamW's for one not listed.
func (c lrCentres) centre(optimizer string) float64 {
	if v, ok := c[optimizer]; ok {
		return v
	}
	return c["adamw"]
}

// Sweep returns n learning rates centred on centre, a factor of 2 apart
// (n = 1: the centre alone).
func Sweep(centre float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = roundLR(centre * math.Pow(2, float64(i)-float64(n-1)/2))
	}
	return out
}

// roundLR rounds a learning rate to 4 significant digits, so that sweeps
// print and key stably.
func roundLR(lr float64) float64 {
	if lr <= 0 {
		return lr
	}
	e := math.Pow(10, math.Floor(math.Log10(lr))-3)
	return math.Round(lr/e) * e
}

// OptimizerSettings are the settings of an optimizer in a run, besides the
// learning rate; they are part of the run's key.
type OptimizerSettings struct {
	Name        string  `json:"name"`
	WeightDecay float64 `json:"weight_decay"`
	Momentum    float64 `json:"momentum,omitempty"`   // SGD
	Rank        int     `json:"rank,omitempty"`       // low-rank
	UpdateGap   int     `json:"update_gap,omitempty"` // low-rank
	Scale       float64 `json:"scale,omitempty"`      // low-rank α
	Target      string  `json:"target,omitempty"`     // low-rank: which matrices
}

// optimizerSettings returns the settings of optimizer name on a task with
// budget b: SGD with momentum 0.9; AdamW and Lion with their reference
// betas; GaLore, Natural GaLore and Fira with the HF-style AdamW base,
// α = 0.25 and the refresh period cut to a fifth of the run so that the
// projector is refreshed as often, relative to the run, as in the papers'
// long runs.
func optimizerSettings(name string, t Task, b Budget, rank int, wd float64) OptimizerSettings {
	s := OptimizerSettings{Name: name, WeightDecay: wd}
	switch {
	case name == "sgd":
		s.Momentum = 0.9
	case isLowRank(name):
		s.Rank = rank
		if s.Rank <= 0 {
			s.Rank = t.Rank()
		}
		s.UpdateGap = max(10, b.Steps/5)
		s.Scale = 0.25
		s.Target = "attn+mlp"
		if t.LowRankTarget() != nil {
			s.Target = "all-matrices"
		}
	}
	return s
}

// newOptimizer builds the optimizer of s at learning rate lr.
func newOptimizer(s OptimizerSettings, params []*autograd.Var, lr float64, target func(*autograd.Var) bool) (optim.Optimizer, error) {
	switch {
	case s.Name == "sgd":
		return optim.NewSGD(params, optim.SGDConfig{LR: lr, Momentum: s.Momentum, WeightDecay: s.WeightDecay})
	case s.Name == "adamw":
		return optim.NewAdamW(params, optim.AdamWConfig{LR: lr, WeightDecay: s.WeightDecay, NoWeightDecay: s.WeightDecay == 0})
	case s.Name == "lion":
		return optim.NewLion(params, optim.LionConfig{LR: lr, WeightDecay: s.WeightDecay})
	case isLowRank(s.Name):
		return optim.NewLowRank(s.Name, params, optim.LowRankConfig{
			LR: lr, WeightDecay: s.WeightDecay, Rank: s.Rank, UpdateGap: s.UpdateGap, Scale: s.Scale, Target: target,
		})
	}
	return nil, fmt.Errorf("bench: unknown optimizer %q (want one of %s)", s.Name, strings.Join(OptimizerNames(), ", "))
}

// normPower is the refined schedule's weighting for an optimizer: ℓ2 norms
// squared for SGD, ℓ1 norms to the power 1 for Adam- and sign-type ones
// (shared/specs/optimizers.md §7).
func normPower(optimizer string) float64 {
	if optimizer == "sgd" {
		return 2
	}
	return 1
}
