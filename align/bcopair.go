package align

import "github.com/kiln-ml/kiln/autograd"

func init() {
	Register(Spec{
		Name:      "bco_pair",
		Doc:       "BCO on pairs (Binary Classifier Optimization for LLM Alignment): −logσ(βr_c − δ) − logσ(−(βr_r − δ))",
		Kind:      PairedData,
		Reference: true,
		Options: []Option{optBeta, {"running_delta", 0,
			"1: δ is the running mean over steps of each batch's mean reward (TRL before its DPO refactor); 0: δ = 0 (newest TRL)"}},
		New: func(o Options) (Loss, error) {
			r := optReader{o: o}
			l := &bcoPair{beta: r.positive("beta"), running: r.flag("running_delta"), moments: newRunningMoments()}
			return l, r.err
		},
	})
}

type bcoPair struct {
	beta    float32
	running bool
	moments runningMoments
}

func (l *bcoPair) Name() string { return "bco_pair" }

func (l *bcoPair) Compute(in *Inputs, m Metrics) *autograd.Var {
	p := splitPairs("bco_pair", in, true)
	c, rj := autograd.Scale(p.rc, l.beta), autograd.Scale(p.rr, l.beta)
	if l.running {
		if !in.Eval {
			// One sample per step: the mean of all 2B rewards.
			l.moments.update([]float64{mean(append(values(c), values(rj)...))})
		}
		delta := float32(l.moments.mean)
		c, rj = autograd.AddScalar(c, -delta), autograd.AddScalar(rj, -delta)
		m.set("delta", l.moments.mean)
	}
	loss := autograd.Mean(autograd.Neg(autograd.Add(autograd.LogSigmoid(c), autograd.LogSigmoid(autograd.Neg(rj)))))
	p.metrics(m, float64(l.beta), true)
	m.set("loss", float64(loss.Item()))
	return loss
}

// State returns the running moments of the reward shift.
func (l *bcoPair) State() map[string]float64 {
	s := map[string]float64{}
	l.moments.state("delta_", s)
	return s
}

// SetState restores what State returned.
func (l *bcoPair) SetState(s map[string]float64) error { return l.moments.setState("delta_", s) }
