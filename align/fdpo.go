package align

import (
	"math"

	"github.com/kiln-ml/kiln/autograd"
)

// f-DPO ("Beyond Reverse KL: Generalizing DPO with Diverse Divergence
// Constraints") replaces the log-ratio r of DPO by a score s(r) = f'(e^r)
// of another f-divergence (spec §4, TRL's convention).

// maxExp caps exponents of log-ratios so that e^x stays finite in float32,
// as TRL does.
const maxExp = 80

var negInf = float32(math.Inf(-1))

// expCapped returns e^min(x, 80).
func expCapped(x *autograd.Var) *autograd.Var {
	return autograd.Exp(autograd.Clamp(x, negInf, maxExp))
}

func registerFDPO(name, doc string, opts []Option, score func(r *optReader) func(*autograd.Var) *autograd.Var) {
	Register(Spec{
		Name:      name,
		Doc:       doc,
		Kind:      PairedData,
		Reference: true,
		Options:   append([]Option{optBeta, optLabelSmoothing}, opts...),
		New: func(o Options) (Loss, error) {
			r := optReader{o: o}
			beta := r.positive("beta")
			eps := r.within("label_smoothing", 0, 0.5, false, false)
			s := score(&r)
			return &pairLoss{name: name, ref: true, rewardScale: beta, perExample: func(p *pairs) *autograd.Var {
				return negLogSigmoid(margin(beta, s(p.rc), s(p.rr)), eps)
			}}, r.err
		},
	})
}

func init() {
	registerFDPO("fdpo_forward_kl", "f-DPO with the forward KL: DPO on scores −e^{−r}", nil,
		func(*optReader) func(*autograd.Var) *autograd.Var {
			return func(r *autograd.Var) *autograd.Var { return autograd.Neg(expCapped(autograd.Neg(r))) }
		})
	registerFDPO("fdpo_js_divergence", "f-DPO with the Jensen-Shannon divergence: DPO on scores logσ(r)", nil,
		func(*optReader) func(*autograd.Var) *autograd.Var { return autograd.LogSigmoid })
	registerFDPO("fdpo_alpha_divergence", "f-DPO with an α-divergence: DPO on scores e^{(a−1)r}/(a−1) (TRL's coefficient a = 1 − α_paper)",
		[]Option{{"alpha_coef", 0.5, "TRL's f_alpha_divergence_coef a in [0, 1]: 1 is reverse KL (DPO), 0 forward KL"}},
		func(o *optReader) func(*autograd.Var) *autograd.Var {
			a := o.within("alpha_coef", 0, 1, false, true)
			if a == 1 {
				return func(r *autograd.Var) *autograd.Var { return r }
			}
			return func(r *autograd.Var) *autograd.Var {
				return autograd.Scale(expCapped(autograd.Scale(r, a-1)), 1/(a-1))
			}
		})
}
