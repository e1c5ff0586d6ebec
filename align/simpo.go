package align

import "github.com/kiln-ml/kiln/autograd"

func init() {
	Register(Spec{
		Name: "simpo",
		Doc:  "SimPO (Simple Preference Optimization with a Reference-Free Reward): −logσ(β(a_c − a_r) − γ) on average log-probs",
		Kind: PairedData,
		// The official SimPO defaults (β 2, γ/β 0.25), not TRL's CPOConfig ones.
		Options: []Option{{"beta", 2, "reward scale β > 0"}, {"gamma", 0.5, "target reward margin γ"}, optLabelSmoothing},
		New: func(o Options) (Loss, error) {
			r := optReader{o: o}
			l := &simpoLoss{beta: r.positive("beta"), gamma: float32(o["gamma"]), eps: r.within("label_smoothing", 0, 0.5, false, false)}
			return l, r.err
		},
	})
}

type simpoLoss struct{ beta, gamma, eps float32 }

func (l *simpoLoss) Name() string { return "simpo" }

func (l *simpoLoss) Compute(in *Inputs, m Metrics) *autograd.Var {
	p := splitPairs("simpo", in, false)
	ac, ar := p.avg()
	loss := autograd.Mean(negLogSigmoid(autograd.AddScalar(margin(l.beta, ac, ar), -l.gamma), l.eps))
	p.metrics(m, 0, false)
	policyRewards(m, l.beta, ac, ar)
	m.set("loss", float64(loss.Item()))
	return loss
}
