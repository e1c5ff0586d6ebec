package align

import (
	"math"
	"testing"

	"github.com/kiln-ml/kiln/autograd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRegistry(t *testing.T) {
	names := Names()
	for _, n := range []string{"sigmoid", "hinge", "ipo", "ipo_paper", "exo_pair", "nca_pair", "robust", "bco_pair",
		"sppo_hard", "aot", "aot_unpaired", "apo_zero", "apo_down", "discopop", "sft", "sigmoid_norm", "rpo",
		"fdpo_forward_kl", "fdpo_js_divergence", "fdpo_alpha_divergence", "kto", "apo_zero_unpaired", "bco",
		"cpo", "simpo", "alphapo", "orpo", "npo", "npo_rt", "lipo", "listmle", "listwise_softmax",
		"listwise_pairwise", "cpl"} {
		assert.Contains(t, names, n)
	}
	for _, n := range names {
		s, ok := Lookup(n)
		require.True(t, ok)
		assert.Equal(t, n, s.Name)
		assert.NotEmpty(t, s.Doc, n)
		l, err := New(n, nil)
		require.NoError(t, err, n)
		assert.Equal(t, n, l.Name())
	}
	assert.Panics(t, func() { Register(Spec{Name: "sigmoid"}) })
}

func TestNewErrors(t *testing.T) {
	cases := []struct {
		name string
		o    Options
		msg  string
	}{
		{"dpo", nil, `unknown loss "dpo"`},
		{"sigmoid", Options{"tau": 1}, "has no option \"tau\"; it takes beta, label_smoothing"},
		{"sigmoid", Options{"beta": 0}, "beta = 0 must be positive"},
		{"sigmoid", Options{"beta": math.NaN()}, "not finite"},
		{"sigmoid", Options{"label_smoothing": 0.5}, "label_smoothing = 0.5 must lie in [0, 0.5)"},
		{"robust", Options{"label_smoothing": -0.1}, "must lie in [0, 0.5)"},
		{"exo_pair", Options{"label_smoothing": 0}, "label_smoothing = 0 must lie in (0, 1)"},
		{"fdpo_alpha_divergence", Options{"alpha_coef": 1.5}, "alpha_coef = 1.5 must lie in [0, 1]"},
		{"bco_pair", Options{"running_delta": 0.5}, "running_delta = 0.5 must be 0 or 1"},
		{"cpl", Options{"lambda": 0}, "lambda = 0 must lie in (0, 1]"},
		{"kto", Options{"desirable_weight": -1}, "desirable_weight = -1 must not be negative"},
		{"discopop", Options{"tau": 0, "beta": -1}, "beta = -1 must be positive\ntau = 0 must be positive"},
	}
	for _, c := range cases {
		_, err := New(c.name, c.o)
		require.Error(t, err, "%s %v", c.name, c.o)
		assert.Contains(t, err.Error(), c.msg)
	}
}

func TestParseOptions(t *testing.T) {
	o, err := ParseOptions(" beta=0.5, label_smoothing = 0.1,")
	require.NoError(t, err)
	assert.Equal(t, Options{"beta": 0.5, "label_smoothing": 0.1}, o)
	_, err = ParseOptions("beta")
	assert.ErrorContains(t, err, "want name=value")
	_, err = ParseOptions("beta=x")
	assert.ErrorContains(t, err, "not a number")
}

func TestCombine(t *testing.T) {
	dpo, sft := mustNew(t, "sigmoid", nil), mustNew(t, "sft", nil)
	rpo := mustNew(t, "rpo", Options{"alpha": 0.5})
	c, err := Combine([]Loss{dpo, sft}, []float64{1, 0.5})
	require.NoError(t, err)
	assert.Equal(t, "sigmoid+sft", c.Name())
	for _, pc := range cases {
		in, policy := pairInputs([]pairCase{pc}, false)
		m := Metrics{}
		v := c.Compute(in, m)
		v.Backward()
		got := policy.Grad().Values()
		in2, policy2 := pairInputs([]pairCase{pc}, false)
		w := rpo.Compute(in2, nil)
		w.Backward()
		// DPO + 0.5·SFT is RPO with α = 0.5.
		assert.InDelta(t, w.Item(), v.Item(), 1e-6)
		assert.InDeltaSlice(t, policy2.Grad().Values(), got, 1e-6)
		assert.Equal(t, float64(v.Item()), m["loss"])
		assert.InDelta(t, m["loss/sigmoid"]+0.5*m["loss/sft"], m["loss"], 1e-6)
	}
	_, err = Combine([]Loss{dpo, mustNew(t, "kto", nil)}, nil)
	assert.ErrorContains(t, err, "sigmoid takes paired data, kto takes unpaired")
	_, err = Combine([]Loss{dpo}, []float64{1, 2})
	assert.ErrorContains(t, err, "2 weights for 1 losses")

	// The state of stateful terms passes through.
	mpo, err := Combine([]Loss{dpo, mustNew(t, "bco_pair", Options{"running_delta": 1}), sft}, []float64{0.8, 0.2, 1})
	require.NoError(t, err)
	in, _ := pairInputs(cases, false)
	mpo.Compute(in, nil)
	st := mpo.(Stateful).State()
	assert.Contains(t, st, "bco_pair/delta_mean")
	fresh, _ := Combine([]Loss{dpo, mustNew(t, "bco_pair", Options{"running_delta": 1}), sft}, nil)
	require.NoError(t, fresh.(Stateful).SetState(st))
	assert.Equal(t, st, fresh.(Stateful).State())
}

func TestInputsChecked(t *testing.T) {
	l := mustNew(t, "sigmoid", nil)
	in, _ := pairInputs([]pairCase{caseA}, false)
	in.Ref = nil
	assert.PanicsWithValue(t, "align.sigmoid: the loss needs reference log-probabilities (Inputs.Ref)", func() { l.Compute(in, nil) })
	in, _ = pairInputs([]pairCase{caseA}, false)
	in.Lengths = in.Lengths[:1]
	assert.PanicsWithValue(t, "align.sigmoid: 1 lengths for 2 rows", func() { l.Compute(in, nil) })
	in, _ = pairInputs([]pairCase{caseA}, false)
	in.Logps = autograd.Slice(in.Logps, 0, 0, 1)
	in.Lengths, in.Ref = in.Lengths[:1], in.Ref[:1]
	assert.PanicsWithValue(t, "align.sigmoid: 1 rows; paired inputs have 2B rows (B chosen, then B rejected)", func() { l.Compute(in, nil) })
	kto := mustNew(t, "kto", nil)
	u, _ := unpairedInputs([]float32{-1, -2}, []float32{-1, -2}, []bool{true, false})
	assert.Panics(t, func() { kto.Compute(u, nil) }, "KTO without KL")
	lipo := mustNew(t, "lipo", nil)
	li, _ := unpairedInputs([]float32{-1, -2, -3}, []float32{-1, -2, -3}, nil)
	li.Scores, li.ListSizes = []float32{1, 2, 3}, []int{2}
	assert.PanicsWithValue(t, "align.lipo: list sizes [2] add up to 2, not the 3 rows", func() { lipo.Compute(li, nil) })
}

// A list whose labels are all equal teaches nothing: loss and gradient 0.
func TestListwiseWithoutOrder(t *testing.T) {
	for _, name := range []string{"lipo", "listwise_pairwise"} {
		l := mustNew(t, name, nil)
		in, policy := unpairedInputs([]float32{-1, -2}, []float32{-1.5, -2}, nil)
		in.Scores, in.ListSizes = []float32{1, 1}, []int{2}
		v := l.Compute(in, nil)
		v.Backward()
		assert.Zero(t, v.Item())
		assert.Equal(t, []float32{0, 0}, policy.Grad().Values())
	}
}

// K = 2 listwise losses reduce to DPO (spec §7.2).
func TestListwiseReducesToDPO(t *testing.T) {
	dpo := mustNew(t, "sigmoid", nil)
	in, _ := pairInputs([]pairCase{caseA}, false)
	want := dpo.Compute(in, nil).Item()
	for _, name := range []string{"listmle", "listwise_pairwise"} {
		l := mustNew(t, name, Options{"beta": 0.1})
		li, _ := pairInputs([]pairCase{caseA}, false)
		li.Scores, li.ListSizes = []float32{1, 0}, []int{2}
		assert.InDelta(t, want, l.Compute(li, nil).Item(), 1e-6, name)
	}
}
