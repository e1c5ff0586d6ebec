package optim

import (
	"fmt"

	"github.com/kiln-ml/kiln/autograd"
)

// Names lists the optimizers New knows.
func Names() []string { return []string{"sgd", "adam", "adamw", "adamw-hf", "lion"} }

// New returns the optimizer called name (one of Names) over params, with the
// reference defaults except for the learning rate (0 takes the optimizer's
// default) and the weight decay, which is used as given: 0 means none. It is
// what a command line with --optimizer and --lr flags needs; the typed
// constructors (NewAdamW, ...) give every setting.
func New(name string, params []*autograd.Var, lr, weightDecay float64, groups ...Group) (Optimizer, error) {
	switch name {
	case "sgd":
		return NewSGD(params, SGDConfig{LR: lr, WeightDecay: weightDecay}, groups...)
	case "adam":
		return NewAdam(params, AdamConfig{LR: lr, WeightDecay: weightDecay}, groups...)
	case "adamw":
		return NewAdamW(params, AdamWConfig{LR: lr, WeightDecay: weightDecay, NoWeightDecay: weightDecay == 0}, groups...)
	case "adamw-hf":
		return NewHFAdamW(params, HFAdamWConfig{LR: lr, WeightDecay: weightDecay}, groups...)
	case "lion":
		return NewLion(params, LionConfig{LR: lr, WeightDecay: weightDecay}, groups...)
	}
	return nil, fmt.Errorf("optim: unknown optimizer %q (want one of sgd, adam, adamw, adamw-hf, lion)", name)
}
