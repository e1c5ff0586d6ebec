package align

import "github.com/kiln-ml/kiln/autograd"

func init() {
	Register(Spec{
		Name:      "sppo_hard",
		Doc:       "SPPO with hard labels (Self-Play Preference Optimization): (r_c − 1/(2β))² + (r_r + 1/(2β))²",
		Kind:      PairedData,
		Reference: true,
		Options:   []Option{optBeta},
		New: func(o Options) (Loss, error) {
			r := optReader{o: o}
			beta := r.positive("beta")
			return &pairLoss{name: "sppo_hard", ref: true, rewardScale: beta, perExample: func(p *pairs) *autograd.Var {
				t := 1 / (2 * beta)
				return autograd.Add(autograd.Square(autograd.AddScalar(p.rc, -t)), autograd.Square(autograd.AddScalar(p.rr, t)))
			}}, r.err
		},
	})
}
