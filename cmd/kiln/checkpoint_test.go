package main

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
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

// FuzzOpenModel feeds arbitrary files to openModel, which builds a model
// from the configuration in a checkpoint's metadata and loads its weights:
// it must never panic, and never allocate more than a bounded multiple of
// the file (plus the 4 MB of weights a config may describe beyond the
// file's own).
func FuzzOpenModel(f *testing.F) {
	small := gpt.Config{Vocab: 16, Context: 8, Dim: 8, Layers: 1, Heads: 2}
	m, err := gpt.New(small, rand.New(rand.NewPCG(1, 2)))
	require.NoError(f, err)
	dir := f.TempDir()
	for i, cfg := range []gpt.Config{small, {Vocab: 16, Context: 8, Dim: 1 << 16, Layers: 1, Heads: 2}, {Vocab: 16, Context: 8, Dim: 8, Layers: 2, Heads: 2}} {
		meta := modelMeta(small, tokenizer.ByteLevel{})
		b, err := json.Marshal(cfg)
		require.NoError(f, err)
		meta[metaModel] = string(b)
		path := filepath.Join(dir, strconv.Itoa(i))
		require.NoError(f, (&train.Checkpoint{Params: m.Parameters(), Meta: meta}).Save(path))
		raw, err := os.ReadFile(path)
		require.NoError(f, err)
		f.Add(raw)
	}
	path := filepath.Join(fuzzDir(f), "fuzz.safetensors")
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		model, _, _, err := openModel(path)
		runtime.ReadMemStats(&after)
		if bound := 64*uint64(len(b)) + 32<<20; after.TotalAlloc-before.TotalAlloc > bound {
			t.Fatalf("opening a %d-byte file allocated %d bytes, more than %d (err: %v)", len(b), after.TotalAlloc-before.TotalAlloc, bound, err)
		}
		if err == nil && model.NumParams() > len(b)/4 {
			t.Fatalf("a %d-byte file gave a model of %d parameters", len(b), model.NumParams())
		}
	})
}

// fuzzDir returns a directory for the files a fuzz target writes, one per
// input: in memory where the system has a tmpfs at /dev/shm, since writing
// them to disk would make the disk the fuzzer's bottleneck.
func fuzzDir(f *testing.F) string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "kiln-fuzz-"); err == nil {
			f.Cleanup(func() { os.RemoveAll(d) })
			return d
		}
	}
	return f.TempDir()
}
