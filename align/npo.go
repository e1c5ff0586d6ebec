package align

import (
	"fmt"

	"github.com/kiln-ml/kiln/autograd"
)

func init() {
	Register(Spec{
		Name:      "npo",
		Doc:       "NPO (Negative Preference Optimization: From Catastrophic Collapse to Effective Unlearning): (2/β)·softplus(β·r) on the forget set",
		Kind:      ForgetData,
		Reference: true,
		Options:   []Option{optBeta},
		New: func(o Options) (Loss, error) {
			r := optReader{o: o}
			l := &npoLoss{name: "npo", beta: r.positive("beta"), npoWeight: 1}
			return l, r.err
		},
	})
	Register(Spec{
		Name:      "npo_rt",
		Doc:       "NPO+RT: c_npo·NPO on the forget set + c_rt·token-mean NLL on a retain batch (Inputs.RetainLogps)",
		Kind:      ForgetData,
		Reference: true,
		Options: []Option{optBeta, {"npo_weight", 1, "weight c_npo ≥ 0 of the NPO term"},
			{"retain_weight", 1, "weight c_rt ≥ 0 of the retain NLL"}},
		New: func(o Options) (Loss, error) {
			r := optReader{o: o}
			l := &npoLoss{name: "npo_rt", beta: r.positive("beta"), npoWeight: r.nonNegative("npo_weight"), retainWeight: r.nonNegative("retain_weight"), retain: true}
			return l, r.err
		},
	})
}

type npoLoss struct {
	name                    string
	beta                    float32
	npoWeight, retainWeight float32
	retain                  bool
}

func (l *npoLoss) Name() string { return l.name }

func (l *npoLoss) Compute(in *Inputs, m Metrics) *autograd.Var {
	in.rows(l.name, true)
	r := in.logRatios()
	loss := autograd.Scale(autograd.Mean(autograd.Softplus(autograd.Scale(r, l.beta))), 2/l.beta)
	m.set("loss/npo", float64(loss.Item()))
	m.set("forget/log_ratio", mean(values(r)))
	m.set("forget/nll", float64(nll(in.Logps, in.Lengths).Item()))
	if l.npoWeight != 1 {
		loss = autograd.Scale(loss, l.npoWeight)
	}
	if l.retain {
		if in.RetainLogps == nil || len(in.RetainLogps.Shape()) != 1 || in.RetainLogps.Shape()[0] != len(in.RetainLengths) {
			panic(fmt.Sprintf("align.%s: needs Inputs.RetainLogps [M] and RetainLengths [M]", l.name))
		}
		ret := nll(in.RetainLogps, in.RetainLengths)
		m.set("retain/nll", float64(ret.Item()))
		loss = autograd.Add(loss, autograd.Scale(ret, l.retainWeight))
	}
	m.set("loss", float64(loss.Item()))
	return loss
}
