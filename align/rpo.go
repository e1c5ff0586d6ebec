package align

import "github.com/kiln-ml/kiln/autograd"

func init() {
	Register(Spec{
		Name:      "rpo",
		Doc:       "RPO (Iterative Reasoning Preference Optimization): DPO + α·NLL of the chosen completions",
		Kind:      PairedData,
		Reference: true,
		Options:   []Option{optBeta, optLabelSmoothing, {"alpha", 1, "weight α ≥ 0 of the chosen token-mean NLL"}},
		New: func(o Options) (Loss, error) {
			r := optReader{o: o}
			beta := r.positive("beta")
			eps := r.within("label_smoothing", 0, 0.5, false, false)
			alpha := r.nonNegative("alpha")
			return &pairLoss{name: "rpo", ref: true, rewardScale: beta,
				perExample: func(p *pairs) *autograd.Var { return negLogSigmoid(margin(beta, p.rc, p.rr), eps) },
				extra: func(p *pairs, loss *autograd.Var, m Metrics) *autograd.Var {
					nll := p.chosenNLL()
					m.set("nll_loss", float64(nll.Item()))
					return autograd.Add(loss, autograd.Scale(nll, alpha))
				}}, r.err
		},
	})
}
