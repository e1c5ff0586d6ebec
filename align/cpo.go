package align

import "github.com/kiln-ml/kiln/autograd"

// The reference-free losses of TRL's CPOTrainer log rewards β·(policy
// quantity) instead of β·(π − ref).

func init() {
	Register(Spec{
		Name: "cpo",
		Doc:  "CPO (Contrastive Preference Optimization): −logσ(β(π_c − π_r)) + α·NLL of chosen; no reference (α = 0 is reference-free DPO)",
		Kind: PairedData,
		Options: []Option{optBeta, optLabelSmoothing,
			{"alpha", 1, "weight α ≥ 0 of the chosen token-mean NLL (TRL's cpo_alpha)"}},
		New: func(o Options) (Loss, error) {
			r := optReader{o: o}
			l := &cpoLoss{beta: r.positive("beta"), eps: r.within("label_smoothing", 0, 0.5, false, false), alpha: r.nonNegative("alpha")}
			return l, r.err
		},
	})
}

type cpoLoss struct{ beta, eps, alpha float32 }

func (l *cpoLoss) Name() string { return "cpo" }

func (l *cpoLoss) Compute(in *Inputs, m Metrics) *autograd.Var {
	p := splitPairs("cpo", in, false)
	loss := autograd.Mean(negLogSigmoid(margin(l.beta, p.pc, p.pr), l.eps))
	nll := p.chosenNLL()
	if l.alpha != 0 {
		loss = autograd.Add(loss, autograd.Scale(nll, l.alpha))
	}
	p.metrics(m, 0, false)
	policyRewards(m, l.beta, p.pc, p.pr)
	m.set("nll_loss", float64(nll.Item()))
	m.set("loss", float64(loss.Item()))
	return loss
}

// policyRewards logs rewards scale·x for reference-free losses.
func policyRewards(m Metrics, scale float32, c, r *autograd.Var) {
	if m == nil {
		return
	}
	vc, vr := values(c), values(r)
	for i := range vc {
		vc[i] *= float64(scale)
		vr[i] *= float64(scale)
	}
	RewardMetrics(m, vc, vr)
}
