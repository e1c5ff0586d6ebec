package align

import "github.com/kiln-ml/kiln/autograd"

func init() {
	Register(Spec{
		Name:      "bco",
		Doc:       "BCO (Binary Classifier Optimization for LLM Alignment): −logσ(±(βr − δ)) by label, δ the running mean of the rewards",
		Kind:      UnpairedData,
		Reference: true,
		Options:   []Option{optBeta},
		New: func(o Options) (Loss, error) {
			r := optReader{o: o}
			l := &bcoLoss{beta: r.positive("beta"), moments: newRunningMoments()}
			return l, r.err
		},
	})
}

// bcoLoss keeps the reward shift δ across steps: save State with checkpoints.
type bcoLoss struct {
	beta    float32
	moments runningMoments
}

func (l *bcoLoss) Name() string { return "bco" }

func (l *bcoLoss) Compute(in *Inputs, m Metrics) *autograd.Var {
	unpairedRows("bco", in)
	rho := autograd.Scale(in.logRatios(), l.beta)
	if !in.Eval {
		// Before the loss, with this batch's rewards (no gradient).
		l.moments.update(values(rho))
	}
	delta := float32(l.moments.mean)
	u := autograd.Mul(in.signs(), autograd.AddScalar(rho, -delta))
	loss := autograd.Mean(autograd.Neg(autograd.LogSigmoid(u)))
	unpairedMetrics(m, in, l.beta)
	m.set("delta", l.moments.mean)
	m.set("loss", float64(loss.Item()))
	return loss
}

// State returns the running moments of the rewards.
func (l *bcoLoss) State() map[string]float64 {
	s := map[string]float64{}
	l.moments.state("delta_", s)
	return s
}

// SetState restores what State returned.
func (l *bcoLoss) SetState(s map[string]float64) error { return l.moments.setState("delta_", s) }
