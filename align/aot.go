package align

import (
	"slices"

	"github.com/kiln-ml/kiln/autograd"
)

// AOT ("Distributional Preference Alignment of LLMs via Optimal
// Transport") compares sorted batches: the k-th smallest policy quantity
// against the k-th smallest reference one. The gradient of each order
// statistic flows to the element that holds that rank.

func init() {
	Register(Spec{
		Name:      "aot",
		Doc:       "AOT paired: sort π_c−π_r and ref_c−ref_r over the batch, cDPO loss on the differences of order statistics",
		Kind:      PairedData,
		Reference: true,
		Options:   []Option{optBeta, optLabelSmoothing},
		New:       func(o Options) (Loss, error) { return newAOT("aot", o) },
	})
	Register(Spec{
		Name:      "aot_unpaired",
		Doc:       "AOT unpaired: sort r_c and r_r separately over the batch, cDPO loss on the differences of order statistics",
		Kind:      PairedData,
		Reference: true,
		Options:   []Option{optBeta, optLabelSmoothing},
		New:       func(o Options) (Loss, error) { return newAOT("aot_unpaired", o) },
	})
}

func newAOT(name string, o Options) (Loss, error) {
	r := optReader{o: o}
	beta := r.positive("beta")
	eps := r.within("label_smoothing", 0, 0.5, false, false)
	return &pairLoss{name: name, ref: true, rewardScale: beta, perExample: func(p *pairs) *autograd.Var {
		var a, b *autograd.Var
		if name == "aot" {
			a = sorted(p.in, autograd.Sub(p.pc, p.pr))
			refc, refr := p.in.Ref[:p.B], p.in.Ref[p.B:]
			b = p.in.fill(p.B, func(i int) float32 { return refc[i] - refr[i] })
			b = sorted(p.in, b)
		} else {
			a, b = sorted(p.in, p.rc), sorted(p.in, p.rr)
		}
		return negLogSigmoid(margin(beta, a, b), eps)
	}}, r.err
}

// sorted returns the elements of x [n] in ascending order (ties by
// index); the gradient goes back through the permutation.
func sorted(in *Inputs, x *autograd.Var) *autograd.Var {
	v := x.Value().Values()
	n := len(v)
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	slices.SortStableFunc(perm, func(i, j int) int {
		switch {
		case v[i] < v[j]:
			return -1
		case v[i] > v[j]:
			return 1
		}
		return 0
	})
	rows := autograd.Embedding(in.Tape, autograd.Reshape(x, n, 1), perm)
	return autograd.Reshape(rows, n)
}
