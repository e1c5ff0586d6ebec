package align

import (
	"math"

	"github.com/kiln-ml/kiln/autograd"
)

func init() {
	Register(Spec{
		Name:      "exo_pair",
		Doc:       "EXO (Towards Efficient and Exact Optimization of Language Model Alignment), K=2: KL(Bernoulli(σ(z)) ‖ Bernoulli(1−ε))",
		Kind:      PairedData,
		Reference: true,
		Options: []Option{optBeta,
			{"label_smoothing", 1e-3, "ε in (0, 1): the target preference probability is 1−ε (must be > 0)"}},
		New: func(o Options) (Loss, error) {
			r := optReader{o: o}
			beta := r.positive("beta")
			eps := float64(r.within("label_smoothing", 0, 1, true, false))
			logKeep, logFlip := float32(math.Log1p(-eps)), float32(math.Log(eps))
			return &pairLoss{name: "exo_pair", ref: true, rewardScale: beta, perExample: func(p *pairs) *autograd.Var {
				z := margin(beta, p.rc, p.rr)
				nz := autograd.Neg(z)
				return autograd.Add(
					autograd.Mul(autograd.Sigmoid(z), autograd.AddScalar(autograd.LogSigmoid(z), -logKeep)),
					autograd.Mul(autograd.Sigmoid(nz), autograd.AddScalar(autograd.LogSigmoid(nz), -logFlip)))
			}}, r.err
		},
	})
}
