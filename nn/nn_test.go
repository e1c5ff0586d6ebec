package nn

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/kiln-ml/kiln/autograd"
	"github.com/kiln-ml/kiln/nn/safetensors"
	"github.com/kiln-ml/kiln/tensor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func rng() *rand.Rand { return rand.New(rand.NewPCG(1, 2)) }

func TestNamesAndShapes(t *testing.T) {
	r := rng()
	a := NewCausalSelfAttention("blocks.0.attn", 16, 4, true, Normal(0.02), Normal(0.01), r)
	m := NewMLP("blocks.0.mlp", 16, 64, false, Normal(0.02), Normal(0.01), r)
	ps := Collect(a, m)
	var names []string
	for _, p := range ps {
		names = append(names, p.Name())
	}
	assert.Equal(t, []string{
		"blocks.0.attn.qkv.weight", "blocks.0.attn.qkv.bias", "blocks.0.attn.proj.weight", "blocks.0.attn.proj.bias",
		"blocks.0.mlp.fc.weight", "blocks.0.mlp.proj.weight",
	}, names)
	assert.Equal(t, []int{48, 16}, ps[0].Shape())
	assert.Equal(t, 48*16+48+16*16+16+64*16+16*64, NumParams(ps))
	assert.PanicsWithValue(t, `nn.Collect: parameter name "blocks.0.mlp.fc.weight" used twice`, func() { Collect(m, m) })
	assert.PanicsWithValue(t, `nn.NewCausalSelfAttention "x": dim 10 is not divisible by 4 heads`, func() {
		NewCausalSelfAttention("x", 10, 4, true, Normal(1), Normal(1), r)
	})
}

func TestInitStatistics(t *testing.T) {
	l := NewLinear("fc", 256, 512, true, Normal(0.02), rng())
	w := l.Weight.Value().Data()
	var s, ss float64
	for _, v := range w {
		s += float64(v)
		ss += float64(v) * float64(v)
	}
	n := float64(len(w))
	assert.InDelta(t, 0, s/n, 0.001)
	assert.InDelta(t, 0.02, sqrt(ss/n-(s/n)*(s/n)), 0.001)
	assert.Equal(t, make([]float32, 512), l.Bias.Value().Data())
	ln := NewLayerNorm("ln", 4, true)
	assert.Equal(t, []float32{1, 1, 1, 1}, ln.Weight.Value().Data())
}

func sqrt(x float64) float64 {
	z := x
	for i := 0; i < 50; i++ {
		z = (z + x/z) / 2
	}
	return z
}

func TestAttentionLayerIsCausal(t *testing.T) {
	r := rng()
	a := NewCausalSelfAttention("attn", 8, 2, true, Normal(0.5), Normal(0.5), r)
	x := tensor.Randn(r, 1, 5, 8)
	y1 := a.Forward(autograd.Const(x)).Value().Clone()
	// Changing the last position must not change earlier outputs.
	x.Set(x.At(0, 4, 0)+3, 0, 4, 0)
	y2 := a.Forward(autograd.Const(x)).Value()
	assert.True(t, tensor.Equal(y1.Slice(1, 0, 4), y2.Slice(1, 0, 4)))
	assert.False(t, tensor.Equal(y1.Slice(1, 4, 5), y2.Slice(1, 4, 5)))
}

func TestSaveLoadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "w.safetensors")
	a := NewMLP("mlp", 4, 8, true, Normal(1), Normal(1), rand.New(rand.NewPCG(1, 1)))
	require.NoError(t, Save(path, a.Parameters(), map[string]string{"step": "7"}))
	b := NewMLP("mlp", 4, 8, true, Normal(1), Normal(1), rand.New(rand.NewPCG(2, 2)))
	meta, err := Load(path, b.Parameters())
	require.NoError(t, err)
	assert.Equal(t, "7", meta["step"])
	for i, p := range a.Parameters() {
		assert.True(t, tensor.Equal(p.Value(), b.Parameters()[i].Value()), p.Name())
	}
}

func TestLoadErrorsLeaveParametersUntouched(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(1, 1))
	src := NewLinear("fc", 4, 3, true, Normal(1), r)
	path := filepath.Join(dir, "fc.safetensors")
	require.NoError(t, Save(path, src.Parameters(), nil))

	wrongShape := NewLinear("fc", 4, 5, true, Normal(1), r)
	before := wrongShape.Bias.Value().Clone()
	_, err := Load(path, wrongShape.Parameters())
	require.EqualError(t, err, `nn.Load: parameter "fc.weight" has shape [3 4] in the file, the model expects [5 4]`)
	assert.True(t, tensor.Equal(before, wrongShape.Bias.Value()))

	missing := NewLinear("other", 4, 3, true, Normal(1), r)
	_, err = Load(path, missing.Parameters())
	require.ErrorContains(t, err, `parameter "other.weight"`)

	fewer := NewLinear("fc", 4, 3, false, Normal(1), r)
	_, err = Load(path, fewer.Parameters())
	require.EqualError(t, err, "nn.Load: the file has tensors the model does not: fc.bias")

	// A file whose tensor is not float32.
	bad := filepath.Join(dir, "bad.safetensors")
	require.NoError(t, safetensors.WriteFile(bad, map[string]safetensors.Tensor{
		"fc.weight": safetensors.I64([]int{3, 4}, make([]int64, 12)),
		"fc.bias":   safetensors.F32([]int{3}, make([]float32, 3)),
	}, nil))
	_, err = Load(bad, src.Parameters())
	require.ErrorContains(t, err, `parameter "fc.weight"`)

	// A truncated file.
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	trunc := filepath.Join(dir, "trunc.safetensors")
	require.NoError(t, os.WriteFile(trunc, raw[:len(raw)-5], 0o644))
	_, err = Load(trunc, src.Parameters())
	require.Error(t, err)
}
