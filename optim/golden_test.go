package optim

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/autograd"
)

// Golden values of shared/specs/optimizers.md §12, computed in float64 by
// optimizers_golden.py. kiln computes in float32: the spec's tolerance is
// 1e-5 relative.
const goldenTol = 1e-5

// g1Grads are the fixed gradients of G1 and G2.
var g1Grads = [][]float32{{0.1, -0.2, 0.3}, {-0.05, 0.4, 0}, {0.2, 0.1, -0.1}}

// allDecay makes weight decay apply to the 1-D golden parameter, as in
// PyTorch, instead of the default grouping that exempts 1-D parameters.
var allDecay = Group{Name: "all", Match: AllParams}

// runGolden steps opt over the gradients and checks the parameter after
// each step.
func runGolden(t *testing.T, p *autograd.Var, opt Optimizer, grads [][]float32, want [][]float64) {
	t.Helper()
	for k, g := range grads {
		setGrad(p, g...)
		require.NoError(t, opt.Step())
		opt.ZeroGrad()
		if want[k] != nil {
			assertRel(t, want[k], values(p), goldenTol, "step %d", k+1)
		}
	}
}

func TestGoldenG1Adam(t *testing.T) {
	p := vec("theta", 1, -2, 0.5)
	opt, err := NewAdam([]*autograd.Var{p}, AdamConfig{LR: 0.1})
	require.NoError(t, err)
	runGolden(t, p, opt, g1Grads, [][]float64{
		{0.90000001, -1.900000005, 0.400000003333},
		{0.873366309403, -1.93661035655, 0.332994181079},
		{0.807555154351, -1.97817547496, 0.304080646349},
	})
}

func TestGoldenG1AdamL2(t *testing.T) {
	p := vec("theta", 1, -2, 0.5)
	opt, err := NewAdam([]*autograd.Var{p}, AdamConfig{LR: 0.1, WeightDecay: 0.1}, allDecay)
	require.NoError(t, err)
	runGolden(t, p, opt, g1Grads, [][]float64{
		{0.900000005, -1.9000000025, 0.400000002857},
		{0.819695912582, -1.87528316884, 0.32497436529},
		{0.731560632625, -1.84436528672, 0.28005117075},
	})
}

func TestGoldenG1AdamW(t *testing.T) {
	p := vec("theta", 1, -2, 0.5)
	opt, err := NewAdamW([]*autograd.Var{p}, AdamWConfig{LR: 0.1, WeightDecay: 0.1}, allDecay)
	require.NoError(t, err)
	runGolden(t, p, opt, g1Grads, [][]float64{
		{0.89000001, -1.880000005, 0.395000003333},
		{0.854466309303, -1.8978103565, 0.324044181046},
		{0.780110491158, -1.92039737135, 0.291890204505},
	})
}

// amsGrads are big-then-small gradients, so that v decreases and the
// running maximum matters.
var amsGrads = [][]float32{{0.5, -0.5, 0.2}, {0.05, -0.05, 0.2}, {0.05, 0.05, 0.2}}

func TestGoldenG1dAMSGrad(t *testing.T) {
	for _, tc := range []struct {
		name    string
		amsgrad bool
		want    [][]float64
	}{
		{"amsgrad", true, [][]float64{
			{0.900000002, -1.900000002, 0.400000005},
			{0.83553974719, -1.83553974719, 0.30000001},
			{0.786725148646, -1.79648806836, 0.200000015},
		}},
		{"plain", false, [][]float64{
			nil,
			{0.809737591863, -1.80973759186, 0.30000001},
			{0.714911735344, -1.73387690665, 0.200000015},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := vec("theta", 1, -2, 0.5)
			opt, err := NewAdam([]*autograd.Var{p}, AdamConfig{LR: 0.1, Betas: [2]float64{0.9, 0.5}, AMSGrad: tc.amsgrad})
			require.NoError(t, err)
			runGolden(t, p, opt, amsGrads, tc.want)
		})
	}
}

func TestGoldenG2HFAdamW(t *testing.T) {
	p := vec("theta", 1, -2, 0.5)
	opt, err := NewHFAdamW([]*autograd.Var{p}, HFAdamWConfig{LR: 0.1, WeightDecay: 0.1}, allDecay)
	require.NoError(t, err)
	runGolden(t, p, opt, g1Grads, [][]float64{
		{0.891031296652, -1.8810156508, 0.396010434416},
		{0.855761075451, -1.89844718054, 0.325721558078},
		{0.782059408932, -1.92060933651, 0.293842806278},
	})
}

func TestGoldenG3Lion(t *testing.T) {
	p := vec("theta", 1, -2, 0.5, 0)
	opt, err := NewLion([]*autograd.Var{p}, LionConfig{LR: 0.1, WeightDecay: 1}, allDecay)
	require.NoError(t, err)
	runGolden(t, p, opt, [][]float32{{0.1, -0.2, 0.3, 0}, {-0.05, 0.4, 0, 0}, {0.2, 0.1, -0.1, 0}}, [][]float64{
		{0.8, -1.7, 0.35, 0},
		{0.82, -1.63, 0.215, 0},
		{0.638, -1.567, 0.2935, 0},
	})
}

// TestGoldenCoreDirections checks that Direction reproduces the golden
// trajectories too, the way a projecting optimizer uses it: p -= lr·scale·N,
// with the decay applied by the caller in the core's convention.
func TestGoldenCoreDirections(t *testing.T) {
	step := func(core Core, lr, wd float64, decayFirst bool, want [][]float64) {
		p := []float32{1, -2, 0.5}
		st := NewTensorState(core, 3)
		d := make([]float32, 3)
		for k, g := range g1Grads {
			if decayFirst {
				for i := range p {
					p[i] *= float32(1 - lr*wd)
				}
			}
			scale := core.Direction(d, g, &st)
			for i := range p {
				p[i] -= float32(lr*scale) * d[i]
			}
			if !decayFirst {
				for i := range p {
					p[i] -= float32(lr*wd) * p[i]
				}
			}
			assertRel(t, want[k], p, goldenTol, "%T step %d", core, k+1)
		}
	}
	step(AdamTorch{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Decoupled: true}, 0.1, 0.1, true, [][]float64{
		{0.89000001, -1.880000005, 0.395000003333},
		{0.854466309303, -1.8978103565, 0.324044181046},
		{0.780110491158, -1.92039737135, 0.291890204505},
	})
	step(AdamHF{Beta1: 0.9, Beta2: 0.999, Eps: 1e-6}, 0.1, 0.1, false, [][]float64{
		{0.891031296652, -1.8810156508, 0.396010434416},
		{0.855761075451, -1.89844718054, 0.325721558078},
		{0.782059408932, -1.92060933651, 0.293842806278},
	})
}
