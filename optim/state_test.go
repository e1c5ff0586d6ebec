package optim

import (
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/autograd"
	"github.com/kiln-ml/kiln/nn/safetensors"
)

// makers builds each optimizer with settings that use all of its state.
var makers = map[string]func(ps []*autograd.Var) (Optimizer, error){
	"sgd": func(ps []*autograd.Var) (Optimizer, error) {
		return NewSGD(ps, SGDConfig{LR: 0.01, Momentum: 0.9, Nesterov: true, WeightDecay: 0.01})
	},
	"adam-amsgrad": func(ps []*autograd.Var) (Optimizer, error) {
		return NewAdam(ps, AdamConfig{LR: 0.01, WeightDecay: 0.01, AMSGrad: true})
	},
	"adamw": func(ps []*autograd.Var) (Optimizer, error) {
		return NewAdamW(ps, AdamWConfig{LR: 0.01, WeightDecay: 0.1})
	},
	"adamw-hf": func(ps []*autograd.Var) (Optimizer, error) {
		return NewHFAdamW(ps, HFAdamWConfig{LR: 0.01, WeightDecay: 0.1})
	},
	"lion": func(ps []*autograd.Var) (Optimizer, error) {
		return NewLion(ps, LionConfig{LR: 0.001, WeightDecay: 0.1})
	},
}

// trainSteps runs steps with gradients from rng; on odd steps the first
// parameter has no gradient, so step counts differ between tensors.
func trainSteps(t *testing.T, opt Optimizer, ps []*autograd.Var, rng *rand.Rand, steps int, lr func(int) float64, from int) {
	for s := from; s < from+steps; s++ {
		randomGrads(rng, ps, 0.1)
		if s%2 == 1 {
			ps[0].ZeroGrad()
		}
		opt.SetLR(lr(s))
		require.NoError(t, opt.Step())
		opt.ZeroGrad()
	}
}

// Stopping after N steps, saving the state, loading it into a fresh
// optimizer and running N more steps is bitwise the same as 2N steps.
func TestStateRoundTripIsBitwise(t *testing.T) {
	const n = 5
	sched := Cosine{Warmup: 2, Total: 2 * n, Floor: 0.1}
	lr := func(s int) float64 { return 0.01 * sched.Factor(s) }
	for name, mk := range makers {
		t.Run(name, func(t *testing.T) {
			init := gptParams(newRand(50), 8, 2, 16)

			straight := cloneParams(init)
			opt, err := mk(straight)
			require.NoError(t, err)
			trainSteps(t, opt, straight, newRand(51), 2*n, lr, 0)

			first := cloneParams(init)
			opt1, err := mk(first)
			require.NoError(t, err)
			rng := newRand(51)
			trainSteps(t, opt1, first, rng, n, lr, 0)
			path := filepath.Join(t.TempDir(), "optim.safetensors")
			require.NoError(t, WriteState(path, opt1.State()))

			resumed := cloneParams(first)
			opt2, err := mk(resumed)
			require.NoError(t, err)
			sd, err := ReadState(path)
			require.NoError(t, err)
			require.NoError(t, opt2.LoadState(sd))
			assert.Equal(t, lr(n-1), opt2.LR(), "the learning rate comes back too")
			trainSteps(t, opt2, resumed, rng, n, lr, n)

			requireSameValues(t, straight, resumed)
			assert.Equal(t, opt.State(), opt2.State())
		})
	}
}

func TestLoadStateErrors(t *testing.T) {
	ps := []*autograd.Var{named("a", 2, 3), named("b", 4)}
	opt, err := NewAdamW(ps, AdamWConfig{})
	require.NoError(t, err)
	good := opt.State()
	edit := func(f func(sd *StateDict)) *StateDict {
		sd := opt.State()
		f(sd)
		return sd
	}
	for _, tc := range []struct {
		name string
		sd   *StateDict
		want []string
	}{
		{"nil", nil, []string{"nil state"}},
		{"kind", edit(func(sd *StateDict) { sd.Kind = "lion" }), []string{`state is of a "lion" optimizer, this one is "adamw"`}},
		{"missing", edit(func(sd *StateDict) { delete(sd.Tensors, "a.exp_avg"); delete(sd.Tensors, "b.step") }),
			[]string{"missing 2 tensors: a.exp_avg, b.step"}},
		{"extra", edit(func(sd *StateDict) { sd.Tensors["c.exp_avg"] = sd.Tensors["b.exp_avg"] }),
			[]string{"unexpected 1 tensor: c.exp_avg"}},
		{"shape", edit(func(sd *StateDict) { sd.Tensors["a.exp_avg_sq"] = safetensors.F32([]int{3, 2}, make([]float32, 6)) }),
			[]string{"a.exp_avg_sq has shape [3 2], the parameter has shape [2 3]"}},
		{"step shape", edit(func(sd *StateDict) { sd.Tensors["a.step"] = safetensors.I64([]int{1}, []int64{3}) }),
			[]string{"a.step: a step count must be a scalar"}},
		{"negative step", edit(func(sd *StateDict) { sd.Tensors["a.step"] = safetensors.I64(nil, []int64{-3}) }),
			[]string{"step count -3 is negative"}},
		{"lr", edit(func(sd *StateDict) { sd.LR = -1 }), []string{"learning rate -1"}},
	} {
		// Give the optimizer some state, so that a failed load can be seen
		// to change nothing.
		setGrad(ps[0], 1, 2, 3, 4, 5, 6)
		setGrad(ps[1], 1, 2, 3, 4)
		require.NoError(t, opt.Step())
		before := opt.State()
		err := opt.LoadState(tc.sd)
		require.Error(t, err, tc.name)
		for _, w := range tc.want {
			assert.ErrorContains(t, err, w, tc.name)
		}
		assert.Equal(t, before, opt.State(), "%s: a failed load changes nothing", tc.name)
	}
	require.NoError(t, opt.LoadState(good))
	assert.Equal(t, good, opt.State())

	// The AMSGrad state does not fit plain AdamW: its extra slot is reported.
	ams, err := NewAdamW(ps, AdamWConfig{AMSGrad: true})
	require.NoError(t, err)
	err = opt.LoadState(ams.State())
	assert.ErrorContains(t, err, "unexpected 2 tensors: a.max_exp_avg_sq, b.max_exp_avg_sq")
}

func TestStateBytes(t *testing.T) {
	ps := gptParams(newRand(52), 8, 1, 16)
	n := int64(0)
	for _, p := range ps {
		n += int64(p.Value().Size())
	}
	tensors := int64(len(ps))
	for _, tc := range []struct {
		name   string
		floats int64
		mk     func() (Optimizer, error)
	}{
		{"sgd", 0, func() (Optimizer, error) { return NewSGD(ps, SGDConfig{}) }},
		{"sgd momentum", 1, func() (Optimizer, error) { return NewSGD(ps, SGDConfig{Momentum: 0.9}) }},
		{"adamw", 2, func() (Optimizer, error) { return NewAdamW(ps, AdamWConfig{}) }},
		{"amsgrad", 3, func() (Optimizer, error) { return NewAdamW(ps, AdamWConfig{AMSGrad: true}) }},
		{"adamw-hf", 2, func() (Optimizer, error) { return NewHFAdamW(ps, HFAdamWConfig{}) }},
		{"lion", 1, func() (Optimizer, error) { return NewLion(ps, LionConfig{}) }},
	} {
		opt, err := tc.mk()
		require.NoError(t, err)
		assert.Equal(t, 4*tc.floats*n+8*tensors, opt.StateBytes(), tc.name)
	}
}

func TestWriteStateErrors(t *testing.T) {
	opt, err := NewSGD([]*autograd.Var{named("w", 2)}, SGDConfig{})
	require.NoError(t, err)
	sd := opt.State()
	sd.Meta = map[string]string{"optim.kind": "x"}
	assert.ErrorContains(t, WriteState(filepath.Join(t.TempDir(), "s"), sd), `metadata key "optim.kind" is reserved`)

	// A model checkpoint is not an optimizer state.
	path := filepath.Join(t.TempDir(), "model.safetensors")
	require.NoError(t, safetensors.WriteFile(path, map[string]safetensors.Tensor{"w": safetensors.F32([]int{2}, []float32{1, 2})}, nil))
	_, err = ReadState(path)
	assert.ErrorContains(t, err, `has no "optim.kind" metadata`)
}
