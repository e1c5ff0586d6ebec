package align

import "github.com/kiln-ml/kiln/autograd"

func init() {
	Register(Spec{
		Name:      "robust",
		Doc:       "rDPO (Provably Robust DPO): [−(1−ε)logσ(z) + ε·logσ(−z)]/(1−2ε), unbiased under label noise ε",
		Kind:      PairedData,
		Reference: true,
		// TRL's shared label_smoothing default 0 would make this plain DPO;
		// the paper recommends 0.1.
		Options: []Option{optBeta, {"label_smoothing", 0.1, "label-noise rate ε in [0, 0.5)"}},
		New: func(o Options) (Loss, error) {
			r := optReader{o: o}
			beta := r.positive("beta")
			eps := r.within("label_smoothing", 0, 0.5, false, false)
			return &pairLoss{name: "robust", ref: true, rewardScale: beta, perExample: func(p *pairs) *autograd.Var {
				z := margin(beta, p.rc, p.rr)
				l := autograd.Add(autograd.Scale(autograd.LogSigmoid(z), -(1-eps)), autograd.Scale(autograd.LogSigmoid(autograd.Neg(z)), eps))
				return autograd.Scale(l, 1/(1-2*eps))
			}}, r.err
		},
	})
}
