package align

import (
	"errors"
	"fmt"

	"github.com/kiln-ml/kiln/autograd"
)

// pairLoss is a paired loss given by its per-example losses [B]; the batch
// loss is their mean. It logs the DPO metrics with rewards
// rewardScale·(π − ref).
type pairLoss struct {
	name        string
	ref         bool
	rewardScale float32
	perExample  func(p *pairs) *autograd.Var
	// extra, if set, adds terms to the batch loss and metrics.
	extra func(p *pairs, loss *autograd.Var, m Metrics) *autograd.Var
}

func (l *pairLoss) Name() string { return l.name }

func (l *pairLoss) Compute(in *Inputs, m Metrics) *autograd.Var {
	p := splitPairs(l.name, in, l.ref)
	loss := autograd.Mean(l.perExample(p))
	if l.extra != nil {
		loss = l.extra(p, loss, m)
	}
	p.metrics(m, float64(l.rewardScale), true)
	m.set("loss", float64(loss.Item()))
	return loss
}

// margin returns z = β·(a − b).
func margin(beta float32, a, b *autograd.Var) *autograd.Var {
	return autograd.Scale(autograd.Sub(a, b), beta)
}

// optReader reads validated options, keeping the first error.
type optReader struct {
	o   Options
	err error
}

func (r *optReader) fail(format string, args ...any) {
	r.err = errors.Join(r.err, fmt.Errorf(format, args...))
}

// positive returns option name, which must be > 0.
func (r *optReader) positive(name string) float32 {
	v := r.o[name]
	if !(v > 0) {
		r.fail("%s = %v must be positive", name, v)
	}
	return float32(v)
}

// nonNegative returns option name, which must be >= 0.
func (r *optReader) nonNegative(name string) float32 {
	v := r.o[name]
	if !(v >= 0) {
		r.fail("%s = %v must not be negative", name, v)
	}
	return float32(v)
}

// within returns option name, which must lie in [lo, hi) (or [lo, hi]
// when closed); open excludes lo as well.
func (r *optReader) within(name string, lo, hi float64, openLo, closedHi bool) float32 {
	v := r.o[name]
	okLo := v > lo || (!openLo && v == lo)
	okHi := v < hi || (closedHi && v == hi)
	if !okLo || !okHi {
		l, h := "[", ")"
		if openLo {
			l = "("
		}
		if closedHi {
			h = "]"
		}
		r.fail("%s = %v must lie in %s%v, %v%s", name, v, l, lo, hi, h)
	}
	return float32(v)
}

// flag returns option name, which must be 0 or 1.
func (r *optReader) flag(name string) bool {
	v := r.o[name]
	if v != 0 && v != 1 {
		r.fail("%s = %v must be 0 or 1", name, v)
	}
	return v == 1
}

// Options most losses share.
var (
	optBeta           = Option{"beta", 0.1, "inverse temperature β: scale of the implicit reward β·(log π − log π_ref)"}
	optLabelSmoothing = Option{"label_smoothing", 0, "probability ε that a preference label is flipped (conservative DPO), in [0, 0.5)"}
)
