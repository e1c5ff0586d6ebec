package align

import "github.com/kiln-ml/kiln/autograd"

func init() {
	Register(Spec{
		Name:      "sigmoid_norm",
		Doc:       "length-normalised DPO (Tülu 3): −logσ(β(r_c/n_c − r_r/n_r))",
		Kind:      PairedData,
		Reference: true,
		Options:   []Option{optBeta, optLabelSmoothing},
		New: func(o Options) (Loss, error) {
			r := optReader{o: o}
			beta := r.positive("beta")
			eps := r.within("label_smoothing", 0, 0.5, false, false)
			return &pairLoss{name: "sigmoid_norm", ref: true, rewardScale: beta, perExample: func(p *pairs) *autograd.Var {
				nc, nr := p.normRatios()
				return negLogSigmoid(margin(beta, nc, nr), eps)
			}}, r.err
		},
	})
}
