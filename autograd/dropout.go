package autograd

import (
	"fmt"
	"math/rand/v2"

	"github.com/kiln-ml/kiln/tensor"
)

// Dropout zeroes each element of x with probability p, drawn from rng, and
// scales the rest by 1/(1-p). With p == 0 or a nil rng (evaluation) it
// returns x unchanged.
func Dropout(x *Var, p float32, rng *rand.Rand) *Var {
	if p < 0 || p >= 1 {
		panic(fmt.Sprintf("autograd.Dropout: probability %v outside [0, 1)", p))
	}
	if p == 0 || rng == nil {
		return x
	}
	t := tapeOf("Dropout", x)
	xv := contig(t, x.value)
	out := t.alloc(xv.Shape()...)
	mask := t.alloc(xv.Size()).Storage()
	keep := 1 / (1 - p)
	for i := range mask {
		if rng.Float32() < p {
			mask[i] = 0
		} else {
			mask[i] = keep
		}
	}
	xd, od := xv.Data(), out.Data()
	for i := range od {
		od[i] = xd[i] * mask[i]
	}
	r := t.result(out)
	if r.record(x) {
		r.backward = func(g *tensor.Tensor) {
			gd := g.Data()
			x.accumulateFn(t, func(dx []float32) {
				for i := range dx {
					dx[i] = gd[i] * mask[i]
				}
			})
		}
	}
	return r
}
