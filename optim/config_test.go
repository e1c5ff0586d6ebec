package optim

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/autograd"
	"github.com/kiln-ml/kiln/tensor"
)

func TestConfigErrors(t *testing.T) {
	ps := []*autograd.Var{named("w", 2, 2)}
	for _, tc := range []struct {
		name string
		make func() error
		want []string
	}{
		{"adam negative lr", func() error { _, err := NewAdam(ps, AdamConfig{LR: -1}); return err },
			[]string{"optim.NewAdam: invalid config", "learning rate -1 must be positive"}},
		{"adam NaN lr", func() error { _, err := NewAdam(ps, AdamConfig{LR: math.NaN()}); return err },
			[]string{"learning rate NaN"}},
		{"adam beta1 1", func() error { _, err := NewAdam(ps, AdamConfig{Betas: [2]float64{1, 0.999}}); return err },
			[]string{"beta1 1 must be in [0, 1)"}},
		{"adam beta2 negative", func() error { _, err := NewAdam(ps, AdamConfig{Betas: [2]float64{0.9, -0.1}}); return err },
			[]string{"beta2 -0.1 must be in [0, 1)"}},
		{"adam eps negative", func() error { _, err := NewAdam(ps, AdamConfig{Eps: -1e-8}); return err },
			[]string{"eps -1e-08 must be positive"}},
		{"adam wd negative", func() error { _, err := NewAdam(ps, AdamConfig{WeightDecay: -0.1}); return err },
			[]string{"weight decay -0.1 must be finite and at least 0"}},
		{"adamw both", func() error {
			_, err := NewAdamW(ps, AdamWConfig{WeightDecay: 0.1, NoWeightDecay: true})
			return err
		}, []string{"optim.NewAdamW", "NoWeightDecay is set together with weight decay 0.1"}},
		{"adamw several", func() error {
			_, err := NewAdamW(ps, AdamWConfig{LR: -1, Betas: [2]float64{0.9, 1.5}})
			return err
		}, []string{"learning rate -1", "beta2 1.5"}},
		{"hf eps", func() error { _, err := NewHFAdamW(ps, HFAdamWConfig{Eps: -1}); return err },
			[]string{"optim.NewHFAdamW", "eps -1"}},
		{"lion beta", func() error { _, err := NewLion(ps, LionConfig{Betas: [2]float64{0.9, 1}}); return err },
			[]string{"optim.NewLion", "beta2 1 must be in [0, 1)"}},
		{"sgd momentum", func() error { _, err := NewSGD(ps, SGDConfig{Momentum: 1.2}); return err },
			[]string{"optim.NewSGD", "momentum 1.2 must be in [0, 1)"}},
		{"sgd dampening", func() error { _, err := NewSGD(ps, SGDConfig{Momentum: 0.9, Dampening: 2}); return err },
			[]string{"dampening 2 must be in [0, 1]"}},
		{"sgd nesterov", func() error { _, err := NewSGD(ps, SGDConfig{Nesterov: true}); return err },
			[]string{"momentum 0 with dampening 0 cannot be Nesterov momentum, which needs a positive momentum and zero dampening"}},
		{"no params", func() error { _, err := NewSGD(nil, SGDConfig{}); return err },
			[]string{"no parameters"}},
		{"nil param", func() error { _, err := NewSGD([]*autograd.Var{ps[0], nil}, SGDConfig{}); return err },
			[]string{"parameter 1 is nil"}},
		{"same var twice", func() error { _, err := NewSGD([]*autograd.Var{ps[0], ps[0]}, SGDConfig{}); return err },
			[]string{`parameter 1 ("w") is the same Var as parameter 0`}},
		{"duplicate names", func() error {
			_, err := NewSGD([]*autograd.Var{named("w", 2), named("w", 3)}, SGDConfig{})
			return err
		}, []string{`parameters 0 and 1 are both called "w"`}},
		{"non-contiguous", func() error {
			_, err := NewSGD([]*autograd.Var{autograd.Param(tensor.Ones(2, 3).T())}, SGDConfig{})
			return err
		}, []string{"non-contiguous view"}},
		{"unknown name", func() error { _, err := New("adagrad", ps, 0, 0); return err },
			[]string{`unknown optimizer "adagrad"`, "sgd, adam, adamw, adamw-hf, lion"}},
	} {
		err := tc.make()
		require.Error(t, err, tc.name)
		for _, w := range tc.want {
			assert.ErrorContains(t, err, w, tc.name)
		}
	}
}

// Zero fields take the reference defaults.
func TestConfigDefaults(t *testing.T) {
	ps := []*autograd.Var{named("w", 2, 2)}
	adam, err := NewAdam(ps, AdamConfig{})
	require.NoError(t, err)
	assert.Equal(t, 1e-3, adam.LR())
	assert.Equal(t, AdamTorch{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}, adam.Core())
	assert.Equal(t, 0.0, adam.Groups()[0].WeightDecay)

	adamw, err := NewAdamW(ps, AdamWConfig{})
	require.NoError(t, err)
	assert.Equal(t, AdamTorch{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Decoupled: true}, adamw.Core())
	assert.Equal(t, 1e-2, adamw.Groups()[0].WeightDecay)
	adamw, err = NewAdamW(ps, AdamWConfig{NoWeightDecay: true})
	require.NoError(t, err)
	assert.Equal(t, 0.0, adamw.Groups()[0].WeightDecay)

	hf, err := NewHFAdamW(ps, HFAdamWConfig{})
	require.NoError(t, err)
	assert.Equal(t, 1e-3, hf.LR())
	assert.Equal(t, AdamHF{Beta1: 0.9, Beta2: 0.999, Eps: 1e-6}, hf.Core())

	lion, err := NewLion(ps, LionConfig{})
	require.NoError(t, err)
	assert.Equal(t, 1e-4, lion.LR())
	assert.Equal(t, LionCore{Beta1: 0.9, Beta2: 0.99}, lion.Core())

	sgd, err := NewSGD(ps, SGDConfig{})
	require.NoError(t, err)
	assert.Equal(t, 1e-3, sgd.LR())
	assert.Equal(t, SGDCore{}, sgd.Core())

	// Betas are taken as given once one is set, so β1 = 0 is possible.
	adam, err = NewAdam(ps, AdamConfig{Betas: [2]float64{0, 0.99}})
	require.NoError(t, err)
	assert.Equal(t, 0.0, adam.Core().(AdamTorch).Beta1)
}

func TestNew(t *testing.T) {
	for _, name := range Names() {
		ps := []*autograd.Var{named("w", 2, 2)}
		opt, err := New(name, ps, 0.01, 0.1)
		require.NoError(t, err, name)
		assert.Equal(t, 0.01, opt.LR(), name)
		assert.Equal(t, name, opt.State().Kind)
		assert.Equal(t, 0.1, opt.Groups()[0].WeightDecay, name)
		// Weight decay 0 means none, for AdamW too.
		opt, err = New(name, ps, 0, 0)
		require.NoError(t, err, name)
		assert.Equal(t, 0.0, opt.Groups()[0].WeightDecay, name)
		assert.Positive(t, opt.LR(), name)
	}
}

func TestSetLRPanicsOnNegative(t *testing.T) {
	opt, err := NewSGD([]*autograd.Var{named("w", 2)}, SGDConfig{})
	require.NoError(t, err)
	assert.PanicsWithValue(t, "optim.SetLR: learning rate -1 must be finite and at least 0", func() { opt.SetLR(-1) })
	opt.SetLR(0) // a warm-up starts at 0
	assert.Equal(t, 0.0, opt.LR())
}
