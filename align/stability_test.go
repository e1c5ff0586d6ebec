package align

import (
	"math"
	"testing"

	"github.com/kiln-ml/kiln/autograd"
	"github.com/kiln-ml/kiln/tensor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// extremeInputs returns inputs of the given kind whose log-ratios are
// ±1e3 (and 0), with policy log-probabilities from 0 down to −1001.
func extremeInputs(kind Kind) (*Inputs, []*autograd.Var) {
	param := func(v ...float32) *autograd.Var { return autograd.Param(tensor.FromSlice(v, len(v))) }
	switch kind {
	case UnpairedData:
		lp := param(-1, -1001, -1, -1001, 0)
		return &Inputs{Logps: lp, Ref: []float32{-1001, -1, -1001, -1, 0}, Lengths: []int{5, 7, 5, 7, 1},
			Desirable: []bool{true, true, false, false, true}, KL: []float32{1000, -1000, 1000, 1000, 0}}, []*autograd.Var{lp}
	case ForgetData:
		lp, retain := param(-1, -1001, 0), param(-1000, 0)
		return &Inputs{Logps: lp, Ref: []float32{-1001, -1, 0}, Lengths: []int{5, 7, 1},
			RetainLogps: retain, RetainLengths: []int{3, 1}}, []*autograd.Var{lp, retain}
	case ListwiseData:
		lp := param(-1, -1001, -500, 0, -1001)
		return &Inputs{Logps: lp, Ref: []float32{-1001, -1, -500, -1000, 0}, Lengths: []int{5, 7, 6, 1, 9},
			Scores: []float32{2, 0, 1, 3, 0}, ListSizes: []int{3, 2}}, []*autograd.Var{lp}
	}
	// Pairs with r_c = +1e3, r_r = −1e3; the reverse; and a chosen
	// completion of probability 1 (log-prob 0, average 0).
	lp := param(-1, -1001, 0, -1001, -1, -1001)
	return &Inputs{Logps: lp, Ref: []float32{-1001, -1, -1, -1, -1001, -1}, Lengths: []int{5, 9, 1, 7, 3, 2}}, []*autograd.Var{lp}
}

func allFinite(v []float32) bool {
	for _, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return false
		}
	}
	return true
}

// TestExtremeLogRatios: every loss stays finite, value and gradient, at
// log-ratios of ±1e3.
func TestExtremeLogRatios(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			spec, _ := Lookup(name)
			for _, beta := range []float64{0.1, 1} {
				o := Options{}
				if spec.hasOption("beta") {
					o["beta"] = beta
				}
				l := mustNew(t, name, o)
				in, leaves := extremeInputs(spec.Kind)
				m := Metrics{}
				v := l.Compute(in, m)
				require.True(t, allFinite(v.Value().Values()), "loss %v", v.Item())
				v.Backward()
				require.NotNil(t, leaves[0].Grad())
				for _, p := range leaves { // npo ignores a retain batch
					if g := p.Grad(); g != nil {
						assert.True(t, allFinite(g.Values()), "gradient %v", g.Values())
					}
				}
				for k, x := range m {
					assert.False(t, math.IsNaN(x) || math.IsInf(x, 0), "metric %s = %v", k, x)
				}
			}
		})
	}
}
