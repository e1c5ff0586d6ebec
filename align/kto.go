package align

import "github.com/kiln-ml/kiln/autograd"

func init() {
	Register(Spec{
		Name:      "kto",
		Doc:       "KTO (Model Alignment as Prospect Theoretic Optimization): λ_D(1−σ(β(r−z₀))) desirable, λ_U(1−σ(β(z₀−r))) undesirable, z₀ = max(0, KL estimate)",
		Kind:      UnpairedData,
		Reference: true,
		Options: []Option{optBeta,
			{"desirable_weight", 1, "λ_D ≥ 0; choose λ_D·n_D : λ_U·n_U in [1, 4/3]"},
			{"undesirable_weight", 1, "λ_U ≥ 0"}},
		New: func(o Options) (Loss, error) {
			r := optReader{o: o}
			l := &ktoLoss{name: "kto", beta: r.positive("beta"), wD: r.nonNegative("desirable_weight"), wU: r.nonNegative("undesirable_weight"), kl: true}
			return l, r.err
		},
	})
	Register(Spec{
		Name:      "apo_zero_unpaired",
		Doc:       "APO-zero on unpaired data: 1 − σ(βr) desirable, σ(βr) undesirable (KTO with z₀ = 0)",
		Kind:      UnpairedData,
		Reference: true,
		Options:   []Option{optBeta},
		New: func(o Options) (Loss, error) {
			r := optReader{o: o}
			l := &ktoLoss{name: "apo_zero_unpaired", beta: r.positive("beta"), wD: 1, wU: 1}
			return l, r.err
		},
	})
}

type ktoLoss struct {
	name   string
	beta   float32
	wD, wU float32
	kl     bool // use the KL reference point z₀
}

func (l *ktoLoss) Name() string { return l.name }

func (l *ktoLoss) Compute(in *Inputs, m Metrics) *autograd.Var {
	n := unpairedRows(l.name, in)
	z0 := 0.0
	if l.kl {
		if len(in.KL) == 0 {
			panic("align.kto: Inputs.KL is empty; compute the log-ratios of the mismatched completions (Batch.FillMismatched)")
		}
		for _, v := range in.KL {
			z0 += float64(v)
		}
		z0 = max(0, z0/float64(len(in.KL)))
		m.set("kl", z0)
	}
	w := in.fill(n, func(i int) float32 {
		if in.Desirable[i] {
			return l.wD
		}
		return l.wU
	})
	// ℓ_i = w_i·(1 − σ(s_i·β(r_i − z₀))), s = ±1 by label.
	u := autograd.Mul(in.signs(), autograd.AddScalar(autograd.Scale(in.logRatios(), l.beta), -l.beta*float32(z0)))
	loss := autograd.Mean(autograd.Sub(w, autograd.Mul(w, autograd.Sigmoid(u))))
	unpairedMetrics(m, in, l.beta)
	m.set("loss", float64(loss.Item()))
	return loss
}
