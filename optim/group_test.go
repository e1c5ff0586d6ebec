package optim

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/autograd"
	"github.com/kiln-ml/kiln/tensor"
)

func named(name string, shape ...int) *autograd.Var {
	return autograd.Param(tensor.Ones(shape...)).SetName(name)
}

// Under the default grouping only weight matrices of linear layers decay.
func TestDefaultDecay(t *testing.T) {
	for _, tc := range []struct {
		name  string
		shape []int
		decay bool
	}{
		{"wte.weight", []int{256, 64}, false},
		{"wpe.weight", []int{128, 64}, false},
		{"blocks.0.ln1.weight", []int{64}, false},
		{"blocks.0.ln1.bias", []int{64}, false},
		{"blocks.0.attn.qkv.weight", []int{192, 64}, true},
		{"blocks.0.attn.qkv.bias", []int{192}, false},
		{"blocks.0.attn.proj.weight", []int{64, 64}, true},
		{"blocks.0.mlp.fc.weight", []int{256, 64}, true},
		{"blocks.0.mlp.proj.weight", []int{64, 256}, true},
		{"blocks.0.mlp.proj.bias", []int{64}, false},
		{"lnf.weight", []int{64}, false},
		{"head.weight", []int{256, 64}, true},
		// Other naming schemes.
		{"model.embed_tokens.weight", []int{1000, 64}, false},
		{"model.layers.0.self_attn.q_proj.weight", []int{64, 64}, true},
		{"model.layers.0.input_layernorm.weight", []int{64}, false},
		{"transformer.ln_f.weight", []int{64}, false},
		{"encoder.norm.scale", []int{1, 64}, false}, // a 2-D norm gain
		{"tok_embeddings.weight", []int{10, 4}, false},
		{"conv.bias", []int{4, 4}, false},
		{"", []int{3, 3}, true},
		{"", []int{3}, false},
	} {
		assert.Equal(t, tc.decay, DefaultDecay(named(tc.name, tc.shape...)), "%q %v", tc.name, tc.shape)
	}
}

func TestDefaultGroups(t *testing.T) {
	ps := gptParams(newRand(40), 8, 1, 16)
	opt, err := NewAdamW(ps, AdamWConfig{WeightDecay: 0.1})
	require.NoError(t, err)
	groups := opt.Groups()
	require.Len(t, groups, 2)
	assert.Equal(t, GroupInfo{Name: "no_decay", LRScale: 1, WeightDecay: 0, Params: []string{
		"wte.weight", "wpe.weight", "blocks.0.ln1.weight", "blocks.0.ln1.bias", "blocks.0.attn.qkv.bias",
		"blocks.0.attn.proj.bias", "blocks.0.ln2.weight", "blocks.0.ln2.bias", "blocks.0.mlp.fc.bias",
		"blocks.0.mlp.proj.bias", "lnf.weight", "lnf.bias"}}, groups[0])
	assert.Equal(t, GroupInfo{Name: "decay", LRScale: 1, WeightDecay: 0.1, Params: []string{
		"blocks.0.attn.qkv.weight", "blocks.0.attn.proj.weight", "blocks.0.mlp.fc.weight", "blocks.0.mlp.proj.weight"}}, groups[1])
}

// Decay reaches the parameters of the decay group only.
func TestGroupsDecayWhatTheySay(t *testing.T) {
	w, b := named("fc.weight", 2, 2), named("fc.bias", 2)
	opt, err := NewAdamW([]*autograd.Var{w, b}, AdamWConfig{LR: 0.1, WeightDecay: 0.5})
	require.NoError(t, err)
	setGrad(w, 0, 0, 0, 0)
	setGrad(b, 0, 0)
	require.NoError(t, opt.Step())
	assert.Equal(t, []float32{0.95, 0.95, 0.95, 0.95}, values(w))
	assert.Equal(t, []float32{1, 1}, values(b))
}

func TestGroupOverrides(t *testing.T) {
	a, b, c := named("a.weight", 2, 2), named("b.weight", 2, 2), named("c.bias", 2)
	opt, err := NewSGD([]*autograd.Var{a, b, c}, SGDConfig{LR: 0.1, WeightDecay: 0.01},
		Group{Name: "slow", Params: []string{"b.weight"}, LRScale: new(0.5)},
		Group{Name: "biases", Match: func(p *autograd.Var) bool { return p.Value().Dim() == 1 }, WeightDecay: new(0.2)},
	)
	require.NoError(t, err)
	assert.Equal(t, []GroupInfo{
		{Name: "slow", LRScale: 0.5, WeightDecay: 0.01, Params: []string{"b.weight"}},
		{Name: "biases", LRScale: 1, WeightDecay: 0.2, Params: []string{"c.bias"}},
		{Name: "decay", LRScale: 1, WeightDecay: 0.01, Params: []string{"a.weight"}},
	}, opt.Groups())
	setGrad(a, 1, 1, 1, 1)
	setGrad(b, 1, 1, 1, 1)
	setGrad(c, 1, 1)
	opt.SetLR(0.2) // the base rate the multipliers apply to
	require.NoError(t, opt.Step())
	assert.InDelta(t, 1-0.2*(1+0.01), values(a)[0], 1e-7)
	assert.InDelta(t, 1-0.1*(1+0.01), values(b)[0], 1e-7)
	assert.InDelta(t, 1-0.2*(1+0.2), values(c)[0], 1e-7)
	assert.Equal(t, 0.2, opt.LR())
}

// Explicit names win over an earlier group's predicate.
func TestGroupNamesBeforePredicates(t *testing.T) {
	a, b := named("a.weight", 2, 2), named("b.weight", 2, 2)
	opt, err := NewSGD([]*autograd.Var{a, b}, SGDConfig{},
		Group{Name: "all", Match: AllParams},
		Group{Name: "b", Params: []string{"b.weight"}},
	)
	require.NoError(t, err)
	assert.Equal(t, []string{"a.weight"}, opt.Groups()[0].Params)
	assert.Equal(t, []string{"b.weight"}, opt.Groups()[1].Params)
}

func TestGroupErrors(t *testing.T) {
	a, b := named("a.weight", 2, 2), named("b.weight", 2, 2)
	ps := []*autograd.Var{a, b}
	for _, tc := range []struct {
		groups []Group
		want   []string
	}{
		{[]Group{{Name: "g", Params: []string{"a.weight", "c.weight"}}}, []string{`group "g" names parameter "c.weight"`, "not among"}},
		{[]Group{{Name: "x", Params: []string{"a.weight"}}, {Name: "y", Params: []string{"a.weight"}}}, []string{`"a.weight" is named by groups "x" and "y"`}},
		{[]Group{{Name: "empty"}}, []string{`group "empty" selects nothing`}},
		{[]Group{{Params: []string{"a.weight"}, LRScale: new(-1.0)}}, []string{`group "group0": learning-rate scale -1`, "at least 0"}},
		{[]Group{{Params: []string{"a.weight"}, WeightDecay: new(-0.1)}}, []string{`weight decay -0.1`}},
	} {
		_, err := NewAdam(ps, AdamConfig{}, tc.groups...)
		require.Error(t, err)
		for _, w := range tc.want {
			assert.ErrorContains(t, err, w)
		}
		assert.ErrorContains(t, err, "optim.NewAdam")
	}
}
