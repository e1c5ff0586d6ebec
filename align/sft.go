package align

import "github.com/kiln-ml/kiln/autograd"

func init() {
	Register(Spec{
		Name:    "sft",
		Doc:     "supervised fine-tuning on the chosen completions: token-mean NLL −Σπ_c/Σn_c over the batch",
		Kind:    PairedData,
		Options: nil,
		New:     func(Options) (Loss, error) { return sftLoss{}, nil },
	})
}

type sftLoss struct{}

func (sftLoss) Name() string { return "sft" }

func (sftLoss) Compute(in *Inputs, m Metrics) *autograd.Var {
	p := splitPairs("sft", in, false)
	loss := p.chosenNLL()
	p.metrics(m, 0, false)
	m.set("nll_loss", float64(loss.Item()))
	m.set("loss", float64(loss.Item()))
	return loss
}
