package data

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestUnigramEntropy(t *testing.T) {
	assert.Equal(t, 0.0, UnigramEntropy(nil))
	assert.Equal(t, 0.0, UnigramEntropy([]int{5, 5, 5}))
	assert.InDelta(t, math.Log(4), UnigramEntropy([]int{0, 1, 2, 3, 3, 2, 1, 0}), 1e-12)
	p, q := 2.0/3, 1.0/3
	assert.InDelta(t, -(p*math.Log(p) + q*math.Log(q)), UnigramEntropy([]int{7, 7, -2}), 1e-12)

	// The same tokens in another order give bitwise the same value.
	rng := rand.New(rand.NewPCG(1, 2))
	tokens := make([]int, 5000)
	for i := range tokens {
		tokens[i] = int(rng.ExpFloat64() * 20)
	}
	h := UnigramEntropy(tokens)
	rng.Shuffle(len(tokens), func(i, j int) { tokens[i], tokens[j] = tokens[j], tokens[i] })
	assert.Equal(t, h, UnigramEntropy(tokens))
}

func TestUnigramCrossEntropy(t *testing.T) {
	// Counts 2, 1, 0 smoothed over 3 ids: p = 3/6, 2/6, 1/6.
	ce, err := UnigramCrossEntropy([]int{0, 0, 1}, []int{0, 2}, 3)
	require.NoError(t, err)
	assert.InDelta(t, (math.Log(2)+math.Log(6))/2, ce, 1e-12)

	_, err = UnigramCrossEntropy([]int{0}, []int{3}, 3)
	assert.ErrorContains(t, err, "validation token 0 is id 3, outside the vocabulary [0, 3)")
	_, err = UnigramCrossEntropy([]int{-1}, []int{0}, 3)
	assert.ErrorContains(t, err, "training token 0 is id -1")
	_, err = UnigramCrossEntropy([]int{0}, nil, 3)
	assert.ErrorContains(t, err, "no validation tokens")
	_, err = UnigramCrossEntropy([]int{0}, []int{0}, 0)
	assert.ErrorContains(t, err, "vocabulary size 0")
}
