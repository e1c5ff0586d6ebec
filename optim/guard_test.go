package optim

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/autograd"
)

func TestGuardSkipsNonFiniteSteps(t *testing.T) {
	ps := gptParams(newRand(70), 8, 1, 16)
	inner, err := NewAdamW(ps, AdamWConfig{LR: 0.01})
	require.NoError(t, err)
	opt := SkipNonFinite(inner)
	rng := newRand(71)

	randomGrads(rng, ps, 1)
	require.NoError(t, opt.Step())
	opt.ZeroGrad()
	snapshot := cloneParams(ps)
	state := opt.State()

	randomGrads(rng, ps, 1)
	ps[4].Grad().Data()[17] = float32(math.NaN()) // blocks.0.attn.qkv.weight, [24 8]
	err = opt.Step()
	var nf *NonFiniteError
	require.ErrorAs(t, err, &nf)
	assert.Equal(t, "blocks.0.attn.qkv.weight", nf.Param)
	assert.Equal(t, []int{2, 1}, nf.Index)
	assert.Equal(t, int64(1), opt.Skipped())
	requireSameValues(t, snapshot, ps)
	after := opt.State()
	assert.Equal(t, state.Tensors, after.Tensors, "moments and step counts untouched")
	assert.Equal(t, "1", after.Meta[metaSkipped])
	opt.ZeroGrad()

	randomGrads(rng, ps, 1)
	require.NoError(t, opt.Step(), "training goes on")
	assert.Equal(t, int64(1), opt.Skipped())

	// The count travels with the state.
	again := SkipNonFinite(must(NewAdamW(cloneParams(ps), AdamWConfig{LR: 0.01})))
	require.NoError(t, again.LoadState(opt.State()))
	assert.Equal(t, int64(1), again.Skipped())
	bad := opt.State()
	bad.Meta[metaSkipped] = "many"
	assert.ErrorContains(t, again.LoadState(bad), `skipped-step count "many"`)
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// The guard is an Optimizer like the one it wraps.
var _ Optimizer = (*Guard)(nil)

func TestGuardWithNilGradients(t *testing.T) {
	a, b := vec("a", 1), vec("b", 2)
	opt := SkipNonFinite(must(NewSGD([]*autograd.Var{a, b}, SGDConfig{LR: 1})))
	setGrad(a, 0.5)
	require.NoError(t, opt.Step())
	assert.Equal(t, []float32{0.5}, values(a))
	assert.Equal(t, []float32{2}, values(b))
}
