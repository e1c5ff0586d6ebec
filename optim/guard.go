package optim

import (
	"fmt"
	"strconv"

	"github.com/kiln-ml/kiln/autograd"
)

// Guard wraps an optimizer so that a step whose gradients hold a NaN or an
// infinity is skipped instead of spoiling the parameters and the moments.
// It costs one read of all gradients per step.
type Guard struct {
	Optimizer
	params  []*autograd.Var
	skipped int64
}

// metaSkipped is the metadata key under which Guard keeps its count.
const metaSkipped = "optim.skipped_steps"

// SkipNonFinite returns opt guarded against non-finite gradients.
func SkipNonFinite(opt Optimizer) *Guard { return &Guard{Optimizer: opt, params: opt.Params()} }

// Step checks the gradients and steps only if all are finite. When it skips,
// it returns the *NonFiniteError that names the parameter: nothing changed,
// and training can go on with the next batch.
func (g *Guard) Step() error {
	if err := CheckFinite(g.params); err != nil {
		g.skipped++
		return err
	}
	return g.Optimizer.Step()
}

// Skipped returns the number of steps skipped so far (carried by State and
// LoadState).
func (g *Guard) Skipped() int64 { return g.skipped }

// State returns the wrapped optimizer's state with the count of skipped steps.
func (g *Guard) State() *StateDict {
	sd := g.Optimizer.State()
	if sd.Meta == nil {
		sd.Meta = map[string]string{}
	}
	sd.Meta[metaSkipped] = strconv.FormatInt(g.skipped, 10)
	return sd
}

// LoadState loads the wrapped optimizer's state and the count of skipped
// steps (zero if the state has none).
func (g *Guard) LoadState(sd *StateDict) error {
	var skipped int64
	if sd != nil {
		if s, ok := sd.Meta[metaSkipped]; ok {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n < 0 {
				return fmt.Errorf("optim.LoadState: skipped-step count %q is not a non-negative integer", s)
			}
			skipped = n
		}
	}
	if err := g.Optimizer.LoadState(sd); err != nil {
		return err
	}
	g.skipped = skipped
	return nil
}
