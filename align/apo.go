package align

import "github.com/kiln-ml/kiln/autograd"

// APO ("Anchored Preference Optimization and Contrastive Revisions").

func init() {
	Register(Spec{
		Name:      "apo_zero",
		Doc:       "APO-zero: 1 − σ(βr_c) + σ(βr_r); raises chosen, lowers rejected",
		Kind:      PairedData,
		Reference: true,
		Options:   []Option{optBeta},
		New: func(o Options) (Loss, error) {
			r := optReader{o: o}
			beta := r.positive("beta")
			return &pairLoss{name: "apo_zero", ref: true, rewardScale: beta, perExample: func(p *pairs) *autograd.Var {
				l := autograd.Sub(autograd.Sigmoid(autograd.Scale(p.rr, beta)), autograd.Sigmoid(autograd.Scale(p.rc, beta)))
				return autograd.AddScalar(l, 1)
			}}, r.err
		},
	})
	Register(Spec{
		Name:      "apo_down",
		Doc:       "APO-down: σ(βr_c) + 1 − σ(β·h); lowers both, rejected more",
		Kind:      PairedData,
		Reference: true,
		Options:   []Option{optBeta},
		New: func(o Options) (Loss, error) {
			r := optReader{o: o}
			beta := r.positive("beta")
			return &pairLoss{name: "apo_down", ref: true, rewardScale: beta, perExample: func(p *pairs) *autograd.Var {
				l := autograd.Sub(autograd.Sigmoid(autograd.Scale(p.rc, beta)), autograd.Sigmoid(margin(beta, p.rc, p.rr)))
				return autograd.AddScalar(l, 1)
			}}, r.err
		},
	})
}
