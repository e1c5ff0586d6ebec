package align

import "github.com/kiln-ml/kiln/autograd"

func init() {
	Register(Spec{
		Name:      "sigmoid",
		Doc:       "DPO (Direct Preference Optimization: Your Language Model is Secretly a Reward Model): −logσ(β·h); label_smoothing ε gives cDPO",
		Kind:      PairedData,
		Reference: true,
		Options:   []Option{optBeta, optLabelSmoothing},
		New: func(o Options) (Loss, error) {
			r := optReader{o: o}
			beta := r.positive("beta")
			eps := r.within("label_smoothing", 0, 0.5, false, false)
			return &pairLoss{name: "sigmoid", ref: true, rewardScale: beta, perExample: func(p *pairs) *autograd.Var {
				return negLogSigmoid(margin(beta, p.rc, p.rr), eps)
			}}, r.err
		},
	})
}
