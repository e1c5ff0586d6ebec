package autograd

import (
	"fmt"
	"math"
)

// GradCheckOptions tunes CheckGrad. Zero fields take the defaults.
type GradCheckOptions struct {
	Eps  float64 // finite-difference step (default 1e-2)
	RTol float64 // relative tolerance (default 2e-2)
	ATol float64 // absolute tolerance (default 2e-3)
	// MaxElems limits how many elements of each input are checked (spread
	// evenly); 0 checks all.
	MaxElems int
}

// CheckGrad compares the gradients Backward computes for the scalar f()
// with respect to each input against central finite differences
// (f(x+eps) - f(x-eps)) / 2eps, evaluated in float64 from float32 values. f
// is called many times and must be deterministic. It returns an error
// naming the input, the element and both values for the first mismatch.
func CheckGrad(f func() *Var, inputs []*Var, opts GradCheckOptions) error {
	if opts.Eps == 0 {
		opts.Eps = 1e-2
	}
	if opts.RTol == 0 {
		opts.RTol = 2e-2
	}
	if opts.ATol == 0 {
		opts.ATol = 2e-3
	}
	for _, in := range inputs {
		in.ZeroGrad()
	}
	y := f()
	if y.value.Size() != 1 {
		return fmt.Errorf("autograd.CheckGrad: f returns shape %v, want a scalar", y.value.Shape())
	}
	y.Backward()
	analytic := make([][]float32, len(inputs))
	for i, in := range inputs {
		if g := in.Grad(); g != nil {
			analytic[i] = g.Values()
		} else {
			analytic[i] = make([]float32, in.value.Size())
		}
	}
	eval := func() float64 { return float64(f().value.Item()) }
	for i, in := range inputs {
		if !in.value.IsContiguous() {
			return fmt.Errorf("autograd.CheckGrad: input %d is not contiguous", i)
		}
		d := in.value.Data()
		step := 1
		if opts.MaxElems > 0 && len(d) > opts.MaxElems {
			step = (len(d) + opts.MaxElems - 1) / opts.MaxElems
		}
		for j := 0; j < len(d); j += step {
			orig := d[j]
			d[j] = orig + float32(opts.Eps)
			hi := float64(d[j])
			fp := eval()
			d[j] = orig - float32(opts.Eps)
			lo := float64(d[j])
			fm := eval()
			d[j] = orig
			num := (fp - fm) / (hi - lo)
			an := float64(analytic[i][j])
			if math.IsNaN(num) || math.IsNaN(an) || math.Abs(num-an) > opts.ATol+opts.RTol*math.Max(math.Abs(num), math.Abs(an)) {
				name := in.name
				if name == "" {
					name = fmt.Sprintf("input %d", i)
				}
				return fmt.Errorf("autograd.CheckGrad: %s %v element %d: analytic %.6g, numeric %.6g", name, in.value.Shape(), j, an, num)
			}
		}
	}
	return nil
}
