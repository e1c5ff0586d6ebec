package align

import "github.com/kiln-ml/kiln/autograd"

func init() {
	Register(Spec{
		Name: "alphapo",
		Doc:  "AlphaPO: SimPO with the reward R(a) = (1 − e^{−αa})/α of the average log-prob a",
		Kind: PairedData,
		Options: []Option{{"alpha", 0.25, "shape α of the reward transform; 0 is SimPO"},
			{"beta", 2.5, "reward scale β > 0"}, {"gamma", 0.1, "target reward margin γ"}},
		New: func(o Options) (Loss, error) {
			r := optReader{o: o}
			l := &alphapoLoss{alpha: float32(o["alpha"]), beta: r.positive("beta"), gamma: float32(o["gamma"])}
			return l, r.err
		},
	})
}

type alphapoLoss struct{ alpha, beta, gamma float32 }

func (l *alphapoLoss) Name() string { return "alphapo" }

// reward returns (1 − e^{−αa})/α, or a when α = 0.
func (l *alphapoLoss) reward(a *autograd.Var) *autograd.Var {
	if l.alpha == 0 {
		return a
	}
	e := expCapped(autograd.Scale(a, -l.alpha))
	return autograd.Scale(autograd.AddScalar(autograd.Neg(e), 1), 1/l.alpha)
}

func (l *alphapoLoss) Compute(in *Inputs, m Metrics) *autograd.Var {
	p := splitPairs("alphapo", in, false)
	ac, ar := p.avg()
	rc, rr := l.reward(ac), l.reward(ar)
	loss := autograd.Mean(negLogSigmoid(autograd.AddScalar(margin(l.beta, rc, rr), -l.gamma), 0))
	p.metrics(m, 0, false)
	policyRewards(m, l.beta, rc, rr)
	m.set("loss", float64(loss.Item()))
	return loss
}
