package align

import "github.com/kiln-ml/kiln/autograd"

func init() {
	Register(Spec{
		Name:      "discopop",
		Doc:       "DiscoPOP (Discovering Preference Optimization Algorithms with and for LLMs): (1−m)(−logσ(z)) + m·e^{−z}, m = σ(z/τ)",
		Kind:      PairedData,
		Reference: true,
		Options:   []Option{optBeta, {"tau", 0.05, "temperature τ > 0 of the mixing weight σ(z/τ)"}},
		New: func(o Options) (Loss, error) {
			r := optReader{o: o}
			beta := r.positive("beta")
			tau := r.positive("tau")
			return &pairLoss{name: "discopop", ref: true, rewardScale: beta, perExample: func(p *pairs) *autograd.Var {
				z := margin(beta, p.rc, p.rr)
				zt := autograd.Scale(z, 1/tau)
				// (1 − m) = σ(−z/τ); m·e^{−z} = e^{logσ(z/τ) − z}, never 0·∞.
				logistic := autograd.Mul(autograd.Sigmoid(autograd.Neg(zt)), autograd.Neg(autograd.LogSigmoid(z)))
				exponential := autograd.Exp(autograd.Sub(autograd.LogSigmoid(zt), z))
				return autograd.Add(logistic, exponential)
			}}, r.err
		},
	})
}
