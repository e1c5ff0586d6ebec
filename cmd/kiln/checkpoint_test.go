package main

import (
	"encoding/json"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/kiln-ml/kiln/models/gpt"
	"github.com/kiln-ml/kiln/models/tokenizer"
	"github.com/kiln-ml/kiln/train"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOpenModelRejectsOversizedConfig saves a tiny model under a config
// that describes a huge one, as a damaged or hostile checkpoint might: the
// model is built from the config before its weights are loaded, so kiln
// must refuse before it allocates what the config asks for.
func TestOpenModelRejectsOversizedConfig(t *testing.T) {
	small := gpt.Config{Vocab: 256, Context: 32, Dim: 16, Layers: 1, Heads: 2}
	m, err := gpt.New(small, rand.New(rand.NewPCG(1, 2)))
	require.NoError(t, err)
	for name, cfg := range map[string]gpt.Config{
		"wide":     {Vocab: 256, Context: 32, Dim: 1 << 16, Layers: 1, Heads: 2},                // 68 GB of MLP weights
		"deep":     {Vocab: 256, Context: 32, Dim: 16, Layers: 1 << 30, Heads: 2},               // 10^9 blocks
		"long":     {Vocab: 256, Context: 1 << 40, Dim: 16, Layers: 1, Heads: 2},                // position table
		"vocab":    {Vocab: 1 << 40, Context: 32, Dim: 16, Layers: 1, Heads: 2},                 // token table
		"mlp":      {Vocab: 256, Context: 32, Dim: 16, Layers: 1, Heads: 2, MLP: 1 << 40},       // hidden width
		"overflow": {Vocab: 1 << 62, Context: 1 << 62, Dim: 1 << 62, Layers: 1 << 62, Heads: 1}, // products overflow
	} {
		meta := modelMeta(small, tokenizer.ByteLevel{})
		b, err := json.Marshal(cfg)
		require.NoError(t, err)
		meta[metaModel] = string(b)
		path := filepath.Join(t.TempDir(), "c.safetensors")
		require.NoError(t, (&train.Checkpoint{Params: m.Parameters(), Meta: meta}).Save(path))
		_, _, _, err = openModel(path)
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), "weights, but the file holds "+strconv.Itoa(m.NumParams()), name)
	}
	// The honest config opens.
	path := filepath.Join(t.TempDir(), "ok.safetensors")
	require.NoError(t, (&train.Checkpoint{Params: m.Parameters(), Meta: modelMeta(small, tokenizer.ByteLevel{})}).Save(path))
	got, _, _, err := openModel(path)
	require.NoError(t, err)
	assert.Equal(t, small, got.Config)
}
