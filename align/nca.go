package align

import "github.com/kiln-ml/kiln/autograd"

func init() {
	Register(Spec{
		Name:      "nca_pair",
		Doc:       "NCA (Noise Contrastive Alignment of Language Models with Explicit Rewards): −logσ(βr_c) − ½logσ(−βr_c) − ½logσ(−βr_r)",
		Kind:      PairedData,
		Reference: true,
		Options:   []Option{optBeta},
		New: func(o Options) (Loss, error) {
			r := optReader{o: o}
			beta := r.positive("beta")
			return &pairLoss{name: "nca_pair", ref: true, rewardScale: beta, perExample: func(p *pairs) *autograd.Var {
				c, rj := autograd.Scale(p.rc, beta), autograd.Scale(p.rr, beta)
				l := autograd.Neg(autograd.LogSigmoid(c))
				l = autograd.Sub(l, autograd.Scale(autograd.LogSigmoid(autograd.Neg(c)), 0.5))
				return autograd.Sub(l, autograd.Scale(autograd.LogSigmoid(autograd.Neg(rj)), 0.5))
			}}, r.err
		},
	})
}
