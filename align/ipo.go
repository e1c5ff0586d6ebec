package align

import "github.com/kiln-ml/kiln/autograd"

// IPO ("A General Theoretical Paradigm to Understand Learning from Human
// Preferences") regresses the margin to 1/(2β).

func init() {
	Register(Spec{
		Name:      "ipo",
		Doc:       "IPO as in TRL: (r_c/n_c − r_r/n_r − 1/(2β))², per-token log-ratios",
		Kind:      PairedData,
		Reference: true,
		Options:   []Option{optBeta},
		New: func(o Options) (Loss, error) {
			r := optReader{o: o}
			beta := r.positive("beta")
			return &pairLoss{name: "ipo", ref: true, rewardScale: beta, perExample: func(p *pairs) *autograd.Var {
				nc, nr := p.normRatios()
				return autograd.Square(autograd.AddScalar(autograd.Sub(nc, nr), -1/(2*beta)))
			}}, r.err
		},
	})
	Register(Spec{
		Name:      "ipo_paper",
		Doc:       "IPO as in the paper (Eq. 17): (h − 1/(2β))² on sequence log-ratios",
		Kind:      PairedData,
		Reference: true,
		Options:   []Option{optBeta},
		New: func(o Options) (Loss, error) {
			r := optReader{o: o}
			beta := r.positive("beta")
			return &pairLoss{name: "ipo_paper", ref: true, rewardScale: beta, perExample: func(p *pairs) *autograd.Var {
				return autograd.Square(autograd.AddScalar(autograd.Sub(p.rc, p.rr), -1/(2*beta)))
			}}, r.err
		},
	})
}
