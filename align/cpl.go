package align

import "github.com/kiln-ml/kiln/autograd"

func init() {
	Register(Spec{
		Name: "cpl",
		Doc:  "CPL (Contrastive Preference Learning: Learning from Human Feedback without RL): softplus(λS⁻ − S⁺), S = α·Σ log π",
		Kind: PairedData,
		Options: []Option{{"alpha", 0.1, "temperature α > 0 of the score S = α·Σ log π"},
			{"lambda", 0.5, "conservative bias λ in (0, 1] on the dispreferred score"}},
		New: func(o Options) (Loss, error) {
			r := optReader{o: o}
			l := &cplLoss{alpha: r.positive("alpha"), lambda: r.within("lambda", 0, 1, true, true)}
			return l, r.err
		},
	})
}

type cplLoss struct{ alpha, lambda float32 }

func (l *cplLoss) Name() string { return "cpl" }

func (l *cplLoss) Compute(in *Inputs, m Metrics) *autograd.Var {
	p := splitPairs("cpl", in, false)
	sPlus, sMinus := autograd.Scale(p.pc, l.alpha), autograd.Scale(p.pr, l.alpha)
	loss := autograd.Mean(autograd.Softplus(autograd.Sub(autograd.Scale(sMinus, l.lambda), sPlus)))
	p.metrics(m, 0, false)
	// Accuracy compares S⁺ with S⁻ without λ, as the official code does.
	policyRewards(m, l.alpha, p.pc, p.pr)
	m.set("loss", float64(loss.Item()))
	return loss
}
