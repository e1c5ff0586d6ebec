package align

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/kiln-ml/kiln/autograd"
	"github.com/kiln-ml/kiln/tensor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The golden values of spec §12 (preference-losses.md), computed there
// independently in exact arithmetic.

type pairCase struct {
	name               string
	pc, pr, refc, refr float32
	nc, nr             int
	beta               float64
}

var (
	caseA = pairCase{"A", -10.0, -12.0, -11.0, -11.5, 10, 15, 0.1}
	caseB = pairCase{"B", -25.3, -18.7, -24.0, -19.5, 20, 12, 0.5}
	caseC = pairCase{"C", -8.0, -9.0, -8.0, -9.0, 8, 8, 0.1}
	cases = []pairCase{caseA, caseB, caseC}
)

// want is a loss and its gradient with respect to π_c and π_r.
type want struct{ loss, gc, gr float64 }

// closeTo asserts |got − want| within float32 accuracy of a value given to
// six decimals.
func closeTo(t *testing.T, want, got float64, what string) {
	t.Helper()
	tol := 2e-6 + 2e-6*math.Abs(want)
	assert.InDelta(t, want, got, tol, "%s: want %.6f, got %.7f", what, want, got)
}

// pairInputs returns the inputs of a batch of pairs; Ref is nil when noRef.
func pairInputs(cs []pairCase, noRef bool) (*Inputs, *autograd.Var) {
	B := len(cs)
	lp := make([]float32, 2*B)
	ref := make([]float32, 2*B)
	lens := make([]int, 2*B)
	for i, c := range cs {
		lp[i], lp[B+i] = c.pc, c.pr
		ref[i], ref[B+i] = c.refc, c.refr
		lens[i], lens[B+i] = c.nc, c.nr
	}
	policy := autograd.Param(tensor.FromSlice(lp, 2*B))
	in := &Inputs{Logps: policy, Ref: ref, Lengths: lens}
	if noRef {
		in.Ref = nil
	}
	return in, policy
}

func optString(o Options) string {
	keys := slices.Sorted(maps.Keys(o))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%v", k, o[k])
	}
	return strings.Join(parts, ",")
}

func mustNew(t *testing.T, name string, o Options) Loss {
	t.Helper()
	l, err := New(name, o)
	require.NoError(t, err)
	return l
}

// checkFiniteDifferences compares the loss's gradient with respect to the
// log-probabilities with central differences.
func checkFiniteDifferences(t *testing.T, l Loss, in *Inputs, policy *autograd.Var, opts autograd.GradCheckOptions) {
	t.Helper()
	eval := *in
	eval.Eval = true // stateful losses must not move between evaluations
	require.NoError(t, autograd.CheckGrad(func() *autograd.Var { return l.Compute(&eval, nil) }, []*autograd.Var{policy}, opts))
}

func TestGoldenPairwise(t *testing.T) {
	type row struct {
		loss  string
		opts  func(c pairCase) Options
		noRef bool
		want  [3]want // cases A, B, C
	}
	beta := func(c pairCase) Options { return Options{"beta": c.beta} }
	with := func(k string, v float64) func(c pairCase) Options {
		return func(c pairCase) Options { return Options{"beta": c.beta, k: v} }
	}
	rows := []row{
		{"sigmoid", beta, false, [3]want{{0.620957, -0.046257, 0.046257}, {1.350058, -0.370387, 0.370387}, {0.693147, -0.050000, 0.050000}}},
		{"sigmoid", with("label_smoothing", 0.1), false, [3]want{{0.635957, -0.036257, 0.036257}, {1.245058, -0.320387, 0.320387}, {0.693147, -0.040000, 0.040000}}},
		{"hinge", beta, false, [3]want{{0.850000, -0.100000, 0.100000}, {2.050000, -0.500000, 0.500000}, {1.000000, -0.100000, 0.100000}}},
		{"ipo", beta, false, [3]want{{23.684444, -0.973333, 0.648889}, {1.280669, -0.113167, 0.188611}, {25.000000, -1.250000, 1.250000}}},
		{"ipo_paper", beta, false, [3]want{{12.250000, -7.000000, 7.000000}, {9.610000, -6.200000, 6.200000}, {25.000000, -10.000000, 10.000000}}},
		{"exo_pair", with("label_smoothing", 1e-3), false, [3]want{{2.505517, -0.167972, 0.167972}, {4.545106, -0.763958, 0.763958}, {2.761231, -0.172669, 0.172669}}},
		{"nca_pair", beta, false, [3]want{{1.350825, -0.021253, 0.024375}, {1.736591, -0.242758, 0.149672}, {1.386294, -0.025000, 0.025000}}},
		{"robust", with("label_smoothing", 0.1), false, [3]want{{0.602207, -0.058757, 0.058757}, {1.481308, -0.432887, 0.432887}, {0.693147, -0.062500, 0.062500}}},
		{"bco_pair", beta, false, [3]want{{1.312856, -0.047502, 0.048750}, {1.983071, -0.328505, 0.299344}, {1.386294, -0.050000, 0.050000}}},
		{"sppo_hard", beta, false, [3]want{{36.250000, -8.000000, 9.000000}, {8.530000, -4.600000, 3.600000}, {50.000000, -10.000000, 10.000000}}},
		{"apo_zero", beta, false, [3]want{{0.962523, -0.024938, 0.024984}, {1.255698, -0.112674, 0.120130}, {1.000000, -0.025000, 0.025000}}},
		{"apo_down", beta, false, [3]want{{0.987549, 0.000078, 0.024860}, {1.083764, 0.016660, 0.096014}, {1.000000, 0.000000, 0.025000}}},
		{"discopop", with("tau", 0.05), false, [3]want{{0.849338, -0.062520, 0.062520}, {1.350058, -0.370387, 0.370387}, {0.846574, 0.078426, -0.078426}}},
		{"sigmoid_norm", beta, false, [3]want{{0.686503, -0.004967, 0.003311}, {0.726606, -0.012911, 0.021519}, {0.693147, -0.006250, 0.006250}}},
		{"sft", func(pairCase) Options { return nil }, true, [3]want{{1.000000, -0.100000, 0}, {1.265000, -0.050000, 0}, {1.000000, -0.125000, 0}}},
		{"rpo", with("alpha", 1), false, [3]want{{1.620957, -0.146257, 0.046257}, {2.615058, -0.420387, 0.370387}, {1.693147, -0.175000, 0.050000}}},
		// Reference-free DPO is CPO without its NLL term.
		{"cpo", with("alpha", 0), true, [3]want{{0.598139, -0.045017, 0.045017}, {3.336219, -0.482214, 0.482214}, {0.644397, -0.047502, 0.047502}}},
		{"fdpo_forward_kl", beta, false, [3]want{{0.631154, -0.017218, 0.077164}, {1.792214, -1.529013, 0.187237}, {0.693147, -0.050000, 0.050000}}},
		{"fdpo_js_divergence", beta, false, [3]want{{0.660652, -0.013003, 0.030095}, {1.027799, -0.252334, 0.099550}, {0.693147, -0.025000, 0.025000}}},
		{"fdpo_alpha_divergence", with("alpha_coef", 0.5), false, [3]want{{0.627691, -0.028275, 0.059858}, {1.498216, -0.743681, 0.260242}, {0.693147, -0.050000, 0.050000}}},
		// Pre-refactor coefficient 1.0 = newest 0.0 = forward KL (spec §4).
		{"fdpo_alpha_divergence", with("alpha_coef", 0), false, [3]want{{0.631154, -0.017218, 0.077164}, {1.792214, -1.529013, 0.187237}, {0.693147, -0.050000, 0.050000}}},
		{"fdpo_alpha_divergence", with("alpha_coef", 1), false, [3]want{{0.620957, -0.046257, 0.046257}, {1.350058, -0.370387, 0.370387}, {0.693147, -0.050000, 0.050000}}},
		{"simpo", func(pairCase) Options { return Options{"beta": 2, "gamma": 0.5} }, true, [3]want{{1.241154, -0.142190, 0.094793}, {0.650752, -0.047835, 0.079724}, {0.825939, -0.140544, 0.140544}}},
		{"cpo", func(pairCase) Options { return Options{"beta": 0.1, "alpha": 1} }, true, [3]want{{1.598139, -0.145017, 0.045017}, {2.341637, -0.115926, 0.065926}, {1.644397, -0.172502, 0.047502}}},
		{"orpo", func(pairCase) Options { return Options{"lambda": 0.1} }, true, [3]want{{1.087633, -0.109234, 0.007066}, {1.316760, -0.052815, 0.004265}, {1.060213, -0.133945, 0.008373}}},
		{"alphapo", func(pairCase) Options { return Options{"alpha": 0.25, "beta": 2.5, "gamma": 0.1} }, true, [3]want{{1.120786, -0.216351, 0.137199}, {0.328655, -0.048038, 0.086155}, {0.551131, -0.170014, 0.175411}}},
	}
	for _, r := range rows {
		for i, c := range cases {
			o := r.opts(c)
			t.Run(fmt.Sprintf("%s/%s/%s", r.loss, optString(o), c.name), func(t *testing.T) {
				l := mustNew(t, r.loss, o)
				in, policy := pairInputs([]pairCase{c}, r.noRef)
				m := Metrics{}
				v := l.Compute(in, m)
				v.Backward()
				g := policy.Grad().Values()
				closeTo(t, r.want[i].loss, float64(v.Item()), "loss")
				closeTo(t, r.want[i].gc, float64(g[0]), "∂L/∂π_c")
				closeTo(t, r.want[i].gr, float64(g[1]), "∂L/∂π_r")
				assert.Equal(t, float64(v.Item()), m["loss"])
				checkFiniteDifferences(t, l, in, policy, autograd.GradCheckOptions{})
			})
		}
	}
}

func TestGoldenBatch(t *testing.T) {
	batch := []pairCase{caseA, caseB, caseC} // all with β = 0.1
	type row struct {
		loss   string
		want   float64
		gc, gr [3]float64
	}
	rows := []row{
		{"sigmoid", 0.705918, [3]float64{-0.015419, -0.018410, -0.016667}, [3]float64{0.015419, 0.018410, 0.016667}},
		{"aot", 0.705502, [3]float64{-0.015834, -0.018410, -0.016250}, [3]float64{0.015834, 0.018410, 0.016250}},
		{"aot_unpaired", 0.703430, [3]float64{-0.016500, -0.017333, -0.016667}, [3]float64{0.017333, 0.016500, 0.016667}},
		{"sft", 1.139474, [3]float64{-0.026316, -0.026316, -0.026316}, [3]float64{}},
	}
	for _, r := range rows {
		t.Run(r.loss, func(t *testing.T) {
			o := Options{"beta": 0.1}
			if r.loss == "sft" {
				o = nil
			}
			l := mustNew(t, r.loss, o)
			in, policy := pairInputs(batch, false)
			m := Metrics{}
			v := l.Compute(in, m)
			v.Backward()
			g := policy.Grad().Values()
			closeTo(t, r.want, float64(v.Item()), "loss")
			for i := range 3 {
				closeTo(t, r.gc[i], float64(g[i]), fmt.Sprintf("∂L/∂π_c[%d]", i))
				closeTo(t, r.gr[i], float64(g[3+i]), fmt.Sprintf("∂L/∂π_r[%d]", i))
			}
			checkFiniteDifferences(t, l, in, policy, autograd.GradCheckOptions{})
			closeTo(t, -14.433333, m["logps/chosen"], "logps/chosen")
			closeTo(t, -13.233333, m["logps/rejected"], "logps/rejected")
			if r.loss != "sft" {
				closeTo(t, -0.010000, m["rewards/chosen"], "rewards/chosen")
				closeTo(t, 0.010000, m["rewards/rejected"], "rewards/rejected")
				closeTo(t, -0.020000, m["rewards/margins"], "rewards/margins")
				closeTo(t, 1.0/3, m["rewards/accuracies"], "rewards/accuracies") // A right, B wrong, C tie
			}
		})
	}
}

// TestAOTSortedDeltas checks the order statistics of spec §12.2.
func TestAOTSortedDeltas(t *testing.T) {
	in, _ := pairInputs([]pairCase{caseA, caseB, caseC}, false)
	p := splitPairs("test", in, true)
	u := sorted(in, autograd.Sub(p.pc, p.pr)).Value().Values()
	refDiff := make([]float32, 3)
	for i := range refDiff {
		refDiff[i] = in.Ref[i] - in.Ref[3+i]
	}
	v := sorted(in, autograd.Const(tensor.FromSlice(refDiff, 3))).Value().Values()
	wantPaired := []float64{-2.1, 0.5, 1.0}
	rc, rr := sorted(in, p.rc).Value().Values(), sorted(in, p.rr).Value().Values()
	wantUnpaired := []float64{-0.8, 0.0, 0.2}
	for i := range 3 {
		closeTo(t, wantPaired[i], float64(u[i]-v[i]), "aot δ")
		closeTo(t, wantUnpaired[i], float64(rc[i]-rr[i]), "aot_unpaired δ")
	}
}

// unpairedInputs builds unpaired inputs from (π, ref, desirable) items.
func unpairedInputs(lp, ref []float32, desirable []bool) (*Inputs, *autograd.Var) {
	policy := autograd.Param(tensor.FromSlice(append([]float32(nil), lp...), len(lp)))
	lens := make([]int, len(lp))
	for i := range lens {
		lens[i] = 10
	}
	return &Inputs{Logps: policy, Ref: ref, Lengths: lens, Desirable: desirable}, policy
}

func TestGoldenKTO(t *testing.T) {
	lp := []float32{-10.0, -25.3, -12.0, -18.7}
	ref := []float32{-11.0, -24.0, -11.5, -19.5}
	labels := []bool{true, true, false, false}
	klA := []float32{0.2, -0.1, 0.5, 0.3}
	klB := []float32{-0.4, -0.2, 0.1, 0.0}
	rows := []struct {
		name, loss string
		o          Options
		kl         []float32
		z0, want   float64
		grad       [4]float64
	}{
		{"z0=0.225", "kto", nil, klA, 0.225, 0.503735, [4]float64{-0.006241, -0.006214, 0.006242, 0.006245}},
		{"clamped", "kto", nil, klB, 0, 0.503742, [4]float64{-0.006234, -0.006224, 0.006246, 0.006240}},
		{"lambdaU=1.5", "kto", Options{"undesirable_weight": 1.5}, klA, 0.225, 0.628267, [4]float64{-0.006241, -0.006214, 0.009363, 0.009367}},
		{"apo_zero_unpaired", "apo_zero_unpaired", nil, nil, -1, 0.503742, [4]float64{-0.006234, -0.006224, 0.006246, 0.006240}},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			l := mustNew(t, r.loss, r.o)
			in, policy := unpairedInputs(lp, ref, labels)
			in.KL = r.kl
			m := Metrics{}
			v := l.Compute(in, m)
			v.Backward()
			closeTo(t, r.want, float64(v.Item()), "loss")
			g := policy.Grad().Values()
			for i := range 4 {
				closeTo(t, r.grad[i], float64(g[i]), fmt.Sprintf("∂L/∂π[%d]", i))
			}
			if r.z0 >= 0 {
				closeTo(t, r.z0, m["kl"], "kl")
			}
			closeTo(t, (0.1*1.0+0.1*-1.3)/2, m["rewards/chosen"], "rewards/chosen")
			closeTo(t, (0.1*-0.5+0.1*0.8)/2, m["rewards/rejected"], "rewards/rejected")
			checkFiniteDifferences(t, l, in, policy, autograd.GradCheckOptions{})
		})
	}
}

func TestGoldenBCO(t *testing.T) {
	lp := []float32{-10.0, -25.3, -12.0, -18.7, -7.0}
	ref := []float32{-11.0, -24.0, -11.5, -19.5, -9.0}
	labels := []bool{true, true, false, false, false}
	l := mustNew(t, "bco", nil)
	in, policy := unpairedInputs(lp, ref, labels)
	m := Metrics{}
	v := l.Compute(in, m)
	v.Backward()
	closeTo(t, 0.040000, m["delta"], "δ")
	closeTo(t, 0.716841, float64(v.Item()), "loss")
	want := []float64{-0.009700, -0.010848, 0.009550, 0.010200, 0.010798}
	g := policy.Grad().Values()
	for i := range want {
		closeTo(t, want[i], float64(g[i]), fmt.Sprintf("∂L/∂π[%d]", i))
	}
	checkFiniteDifferences(t, l, in, policy, autograd.GradCheckOptions{})

	// Evaluation leaves δ alone; the next training batch moves it.
	st := l.(Stateful)
	before := st.State()
	l.Compute(&Inputs{Logps: in.Logps, Ref: ref, Lengths: in.Lengths, Desirable: labels, Eval: true}, nil)
	assert.Equal(t, before, st.State())
	in2, _ := unpairedInputs([]float32{-7, -9}, []float32{-10, -10}, []bool{true, false}) // βr = 0.3, 0.1
	l.Compute(in2, m)
	closeTo(t, 0.085714, m["delta"], "δ after the second batch")

	// The state round-trips.
	fresh := mustNew(t, "bco", nil).(Stateful)
	require.NoError(t, fresh.SetState(st.State()))
	assert.Equal(t, st.State(), fresh.State())
	assert.Error(t, fresh.SetState(map[string]float64{"delta_mean": 1}))
}

func TestBCOPairRunningDelta(t *testing.T) {
	l := mustNew(t, "bco_pair", Options{"running_delta": 1})
	in, policy := pairInputs([]pairCase{caseA, caseC}, false)
	m := Metrics{}
	v := l.Compute(in, m)
	// One sample per step, the mean of the 2B rewards: (0.1 + 0 − 0.05 + 0)/4.
	closeTo(t, 0.0125, m["delta"], "δ")
	d := 0.0125
	wantLoss := (softplus(-(0.1 - d)) + softplus(0.1*-0.5-d) + softplus(-(0 - d)) + softplus(0-d)) / 2
	closeTo(t, wantLoss, float64(v.Item()), "loss")
	v.Backward()
	checkFiniteDifferences(t, l, in, policy, autograd.GradCheckOptions{})
	// The second step averages two per-step samples.
	in2, _ := pairInputs([]pairCase{caseB}, false)
	l.Compute(in2, m)
	closeTo(t, (0.0125+(0.1*-1.3+0.1*0.8)/2)/2, m["delta"], "δ after two steps")
}

func TestGoldenNPO(t *testing.T) {
	lp := []float32{-10, -30, -5}
	ref := []float32{-11, -25, -5}
	l := mustNew(t, "npo", nil)
	in, policy := unpairedInputs(lp, ref, nil)
	in.Lengths = []int{10, 10, 10}
	v := l.Compute(in, nil)
	v.Backward()
	closeTo(t, 12.744139, float64(v.Item()), "loss")
	g := policy.Grad().Values()
	for i, w := range []float64{0.349986, 0.251694, 0.333333} {
		closeTo(t, w, float64(g[i]), fmt.Sprintf("∂L/∂π[%d]", i))
	}
	checkFiniteDifferences(t, l, in, policy, autograd.GradCheckOptions{})

	rt := mustNew(t, "npo_rt", nil)
	in, policy = unpairedInputs(lp, ref, nil)
	retain := autograd.Param(tensor.FromSlice([]float32{-20}, 1))
	in.RetainLogps, in.RetainLengths = retain, []int{10}
	m := Metrics{}
	v = rt.Compute(in, m)
	v.Backward()
	closeTo(t, 14.744139, float64(v.Item()), "NPO+RT loss")
	closeTo(t, -0.1, float64(retain.Grad().Item()), "∂L/∂π_retain")
	closeTo(t, 2, m["retain/nll"], "retain/nll")
	require.NoError(t, autograd.CheckGrad(func() *autograd.Var { return rt.Compute(in, nil) }, []*autograd.Var{policy, retain}, autograd.GradCheckOptions{}))
}

func TestGoldenListwise(t *testing.T) {
	psi := []float32{3, 1, 2, 0}
	lp := []float32{-10.0, -12.0, -11.0, -13.5}
	ref := []float32{-10.5, -11.5, -11.2, -13.2}
	rows := []struct {
		loss string
		beta float64
		want float64
		grad [4]float64
	}{
		{"lipo", 0.1, 6.066486, [4]float64{-0.402975, 0.178088, 0.034234, 0.190653}},
		{"listmle", 0.1, 3.096824, [4]float64{-0.073673, 0.005656, -0.039773, 0.107790}},
		{"listwise_softmax", 0.1, 1.361246, [4]float64{-0.023673, 0.007155, -0.007785, 0.024303}},
		{"listwise_pairwise", 0.1, 0.667837, [4]float64{-0.024126, 0.007542, -0.007958, 0.024542}},
		{"lipo", 1, 3.590340, [4]float64{-2.632020, 1.013464, 0.347056, 1.271500}},
		{"listmle", 1, 2.480795, [4]float64{-0.609074, -0.169901, -0.234910, 1.013885}},
		{"listwise_softmax", 1, 1.205903, [4]float64{-0.109074, -0.022853, -0.043728, 0.175655}},
		{"listwise_pairwise", 1, 0.485687, [4]float64{-0.167421, 0.008487, -0.047299, 0.206233}},
	}
	for _, r := range rows {
		t.Run(fmt.Sprintf("%s/beta=%v", r.loss, r.beta), func(t *testing.T) {
			l := mustNew(t, r.loss, Options{"beta": r.beta})
			policy := autograd.Param(tensor.FromSlice(append([]float32(nil), lp...), 4))
			in := &Inputs{Logps: policy, Ref: ref, Lengths: []int{5, 5, 5, 5}, Scores: psi, ListSizes: []int{4}}
			m := Metrics{}
			v := l.Compute(in, m)
			v.Backward()
			closeTo(t, r.want, float64(v.Item()), "loss")
			g := policy.Grad().Values()
			for i := range 4 {
				closeTo(t, r.grad[i], float64(g[i]), fmt.Sprintf("∂L/∂π[%d]", i))
			}
			// ψ orders the items 1 > 3 > 2 > 4, the scores 1 > 3 > 4 > 2:
			// one of the six ordered pairs is reversed.
			closeTo(t, 5.0/6, m["rewards/pair_accuracy"], "pair accuracy")
			if r.loss != "lipo" { // LiPO's Δ jumps where ranks change
				checkFiniteDifferences(t, l, in, policy, autograd.GradCheckOptions{})
			} else {
				checkFiniteDifferences(t, l, in, policy, autograd.GradCheckOptions{Eps: 1e-3, ATol: 1e-3})
			}
		})
	}
}

// TestLiPOLambdaWeights checks the Δ_ij of spec §12.6 (items 1-based there).
func TestLiPOLambdaWeights(t *testing.T) {
	psi := []float32{3, 1, 2, 0}
	s := []float64{0.05, -0.05, 0.02, -0.03} // ranks [1, 4, 2, 3]
	is, js, w := lambdaWeights(psi, s, 0, 4)
	got := map[[2]int]float64{}
	for k := range is {
		got[[2]int{is[k] + 1, js[k] + 1}] = float64(w[k])
	}
	want := map[[2]int]float64{{1, 2}: 3.415941, {1, 3}: 1.476281, {1, 4}: 3.5, {3, 2}: 0.400506, {3, 4}: 0.392789, {2, 4}: 0.069323}
	require.Len(t, got, len(want))
	for k, v := range want {
		closeTo(t, v, got[k], fmt.Sprintf("Δ_%d%d", k[0], k[1]))
	}
}

func TestGoldenCPL(t *testing.T) {
	for _, c := range []struct {
		lambda, want, gPlus, gMinus float64
	}{{0.5, 0.795393, -0.054860, 0.027430}, {1.0, 0.728760, -0.051749, 0.051749}} {
		l := mustNew(t, "cpl", Options{"alpha": 0.1, "lambda": c.lambda})
		policy := autograd.Param(tensor.FromSlice([]float32{-3.2, -2.5}, 2))
		in := &Inputs{Logps: policy, Lengths: []int{4, 4}}
		m := Metrics{}
		v := l.Compute(in, m)
		v.Backward()
		closeTo(t, c.want, float64(v.Item()), "loss")
		g := policy.Grad().Values()
		closeTo(t, c.gPlus, float64(g[0]), "∂L/∂Σlog π⁺")
		closeTo(t, c.gMinus, float64(g[1]), "∂L/∂Σlog π⁻")
		assert.Equal(t, 0.0, m["rewards/accuracies"]) // S⁺ = −0.32 < S⁻ = −0.25
		checkFiniteDifferences(t, l, in, policy, autograd.GradCheckOptions{})
	}
}

func TestGoldenRanking(t *testing.T) {
	pairs := []RankedPair{
		{Chosen: -20, Rejected: -22, RefChosen: -21, RefRejected: -19, Fraction: 0.75, ChosenLen: 10, RejectedLen: 12},
		{Chosen: -15, Rejected: -14, RefChosen: -15.5, RefRejected: -14.2, Fraction: 0.9, ChosenLen: 8, RejectedLen: 6},
		{Chosen: -30, Rejected: -35, RefChosen: -31, RefRejected: -33, Fraction: 0.6, ChosenLen: 20, RejectedLen: 25},
		{Chosen: -12, Rejected: -12.5, RefChosen: -12, RefRejected: -12.5, Fraction: 1.0, ChosenLen: 6, RejectedLen: 6},
	}
	assert.Equal(t, 0.75, RankingAccuracy(pairs, RankingOptions{}))
	assert.Equal(t, 0.50, RankingAccuracy(pairs, RankingOptions{Normalized: true}))
	for _, c := range []struct{ beta, want float64 }{{0.01, 1}, {0.1, 1}, {1, 0.75}, {5, 0.5}} {
		assert.Equal(t, c.want, IdealizedRankingAccuracy(pairs, c.beta, RankingOptions{}), "β = %v", c.beta)
		assert.InDelta(t, c.want-0.75, AlignmentGap(pairs, c.beta, RankingOptions{}), 1e-12)
	}
	for i, want := range []bool{false, false, true, true} { // per pair at β = 5
		assert.Equal(t, want, IdealizedRankingAccuracy(pairs[i:i+1], 5, RankingOptions{}) == 1, "pair %d", i)
	}
	losses := []float64{0.513015, 0.678260, 0.554355, 0.693147}
	thresholds := []float64{0.598139, 0.630258, 0.798139, 0.718460}
	for i, p := range pairs {
		closeTo(t, losses[i], PairDPOLoss(p, 0.1), "L_DPO")
		closeTo(t, thresholds[i], FlipThreshold(p, 0.1), "flip threshold")
		// The flip condition is exact: loss below threshold iff ranked right.
		assert.Equal(t, p.Chosen > p.Rejected, PairDPOLoss(p, 0.1) < FlipThreshold(p, 0.1), "pair %d", i)
	}
	// With the official ±5 % tie band, pair 4 (ratio e^0.5) is still a win
	// and the others keep their verdicts.
	assert.Equal(t, 0.75, RankingAccuracy(pairs, RankingOptions{TieBand: 0.05}))
	tie := []RankedPair{{Chosen: -10, Rejected: -10.01, Fraction: 0.75}}
	assert.Equal(t, 1.0, RankingAccuracy(tie, RankingOptions{}))
	assert.Equal(t, 0.0, RankingAccuracy(tie, RankingOptions{TieBand: 0.05}))
	unknown := []RankedPair{{RefChosen: -10, RefRejected: -10.5}} // Fraction 0: the default 0.75
	known := []RankedPair{{RefChosen: -10, RefRejected: -10.5, Fraction: DefaultChosenFraction}}
	for _, beta := range []float64{0.1, 1, 5} {
		assert.Equal(t, IdealizedRankingAccuracy(known, beta, RankingOptions{}), IdealizedRankingAccuracy(unknown, beta, RankingOptions{}))
	}
	evenSplit := []RankedPair{{Chosen: -10, Rejected: -10.01, Fraction: 0.5}}
	assert.Equal(t, 1.0, RankingAccuracy(evenSplit, RankingOptions{TieBand: 0.05}))
}
