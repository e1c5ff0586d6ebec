package align

import "github.com/kiln-ml/kiln/autograd"

func init() {
	Register(Spec{
		Name:      "hinge",
		Doc:       "SLiC-HF / RSO hinge: max(0, 1 − β·h); β is the reciprocal of the margin",
		Kind:      PairedData,
		Reference: true,
		Options:   []Option{optBeta},
		New: func(o Options) (Loss, error) {
			r := optReader{o: o}
			beta := r.positive("beta")
			return &pairLoss{name: "hinge", ref: true, rewardScale: beta, perExample: func(p *pairs) *autograd.Var {
				// ReLU's derivative at 0 is 0: the subgradient at z = 1.
				return autograd.ReLU(autograd.AddScalar(autograd.Neg(margin(beta, p.rc, p.rr)), 1))
			}}, r.err
		},
	})
}
