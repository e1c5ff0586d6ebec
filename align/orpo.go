package align

import (
	"math"

	"github.com/kiln-ml/kiln/autograd"
)

func init() {
	Register(Spec{
		Name:    "orpo",
		Doc:     "ORPO (Monolithic Preference Optimization without Reference Model): NLL_c − λ·logσ(log odds ratio of a_c over a_r)",
		Kind:    PairedData,
		Options: []Option{{"lambda", 0.1, "weight λ ≥ 0 of the odds-ratio term (TRL's beta)"}},
		New: func(o Options) (Loss, error) {
			r := optReader{o: o}
			l := &orpoLoss{lambda: r.nonNegative("lambda")}
			return l, r.err
		},
	})
}

type orpoLoss struct{ lambda float32 }

func (l *orpoLoss) Name() string { return "orpo" }

// maxAvgLogp keeps average log-probs strictly below 0, where the odds
// a/(1−e^a) are finite.
const maxAvgLogp = -1e-6

// log1mexp returns log(1 − e^a) and its derivative −e^a/(1 − e^a) for
// a < 0, stably; a is capped at maxAvgLogp (derivative 0 above it).
func log1mexp(a float64) (y, dy float64) {
	capped := a > maxAvgLogp
	if capped {
		a = maxAvgLogp
	}
	if a > -math.Ln2 {
		y = math.Log(-math.Expm1(a))
	} else {
		y = math.Log1p(-math.Exp(a))
	}
	if capped {
		return y, 0
	}
	return y, -1 / math.Expm1(-a) // −e^a/(1−e^a) = −1/(e^{−a} − 1)
}

func (l *orpoLoss) Compute(in *Inputs, m Metrics) *autograd.Var {
	p := splitPairs("orpo", in, false)
	ac, ar := p.avg()
	lor := autograd.Sub(autograd.Sub(ac, ar), autograd.Sub(in.pointwise(ac, log1mexp), in.pointwise(ar, log1mexp)))
	ratio := autograd.Mean(autograd.LogSigmoid(lor))
	nll := p.chosenNLL()
	loss := autograd.Sub(nll, autograd.Scale(ratio, l.lambda))
	p.metrics(m, 0, false)
	policyRewards(m, l.lambda, ac, ar)
	m.set("nll_loss", float64(nll.Item()))
	m.set("log_odds_ratio", float64(ratio.Item()))
	m.set("log_odds_chosen", mean(values(lor)))
	m.set("loss", float64(loss.Item()))
	return loss
}
