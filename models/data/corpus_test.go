package data

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/kiln-ml/kiln/models/tokenizer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func fakeGoroot(t *testing.T, text string) string {
	t.Helper()
	root := t.TempDir()
	p := filepath.Join(root, filepath.FromSlash(defaultCorpusName))
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
	return root
}

func TestFindCorpus(t *testing.T) {
	root := fakeGoroot(t, "text")
	missing := filepath.Join(t.TempDir(), "nogo")
	constant := func(s string) func() string { return func() string { return s } }

	p, err := findCorpus([]func() string{constant(""), constant(missing), constant(root)})
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(root, "src", "testdata", "Isaac.Newton-Opticks.txt"), p)

	_, err = findCorpus([]func() string{constant(""), constant(missing)})
	assert.ErrorContains(t, err, "pass --data FILE")
	assert.ErrorContains(t, err, missing)

	_, err = findCorpus([]func() string{constant("")})
	assert.ErrorContains(t, err, "GOROOT is unknown")
}

func TestDefaultCorpus(t *testing.T) {
	p, err := DefaultCorpusPath()
	require.NoError(t, err, "a Go installation ships the default corpus")
	assert.Equal(t, "Isaac.Newton-Opticks.txt", filepath.Base(p))

	text, err := ReadCorpus("")
	require.NoError(t, err)
	onDisk, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Equal(t, onDisk, text)
	assert.Contains(t, string(text), "OPTICKS")
}

func TestReadCorpusMissing(t *testing.T) {
	_, err := ReadCorpus(filepath.Join(t.TempDir(), "nope.txt"))
	assert.ErrorIs(t, err, os.ErrNotExist)
	assert.ErrorContains(t, err, "data: reading corpus")
}

func TestSplit(t *testing.T) {
	tokens := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	train, val, err := Split(tokens, 0.25)
	require.NoError(t, err)
	assert.Equal(t, []int{0, 1, 2, 3, 4, 5, 6, 7}, train) // floor(2.5) = 2 validation tokens
	assert.Equal(t, []int{8, 9}, val)
	grown := append(train, -1)
	assert.Equal(t, []int{8, 9}, val, "appending to train must not overwrite val")
	assert.Equal(t, -1, grown[8])

	for _, f := range []float64{0, 1, -0.1, 1.5, math.NaN(), math.Inf(1)} {
		_, _, err := Split(tokens, f)
		assert.ErrorContains(t, err, "outside (0, 1)", "%v", f)
	}
	_, _, err = Split(tokens, 0.05)
	assert.ErrorContains(t, err, "leaves an empty split")
	_, _, err = Split(nil, 0.5)
	assert.ErrorContains(t, err, "leaves an empty split")
}

func TestLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.txt")
	require.NoError(t, os.WriteFile(path, []byte("abcdefghij"), 0o644))
	ds, err := Load(path, tokenizer.ByteLevel{}, 0.2)
	require.NoError(t, err)
	assert.Equal(t, []int{'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'}, ds.Train)
	assert.Equal(t, []int{'i', 'j'}, ds.Val)
	assert.Equal(t, 256, ds.VocabSize)
	assert.Equal(t, path, ds.Path)

	_, err = Load(path, tokenizer.ByteLevel{}, 0.01)
	assert.ErrorContains(t, err, path)
	_, err = Load(path, nil, 0.1)
	assert.ErrorContains(t, err, "needs a tokenizer")

	empty := filepath.Join(t.TempDir(), "empty.txt")
	require.NoError(t, os.WriteFile(empty, nil, 0o644))
	_, err = Load(empty, tokenizer.ByteLevel{}, 0.1)
	assert.ErrorContains(t, err, "is empty")

	def, err := Load("", tokenizer.ByteLevel{}, 0.1)
	require.NoError(t, err)
	text, err := ReadCorpus("")
	require.NoError(t, err)
	assert.Equal(t, len(text), len(def.Train)+len(def.Val))
	assert.Equal(t, len(text)/10, len(def.Val))
}
