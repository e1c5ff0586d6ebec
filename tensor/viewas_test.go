package tensor_test

import (
	"testing"

	"github.com/kiln-ml/kiln/tensor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestViewSplitsAndMergesWithoutCopying(t *testing.T) {
	base := tensor.Arange(0, 24, 1).Reshape(2, 3, 4)
	// A slice of the last dimension is not contiguous, but splitting it is a view.
	s := base.Slice(2, 0, 2) // [2 3 2], strides [12 4 1]
	v, ok := s.View(2, 3, 2, 1)
	require.True(t, ok)
	assert.Equal(t, []int{2, 3, 2, 1}, v.Shape())
	v.Set(-1, 1, 2, 1, 0)
	assert.Equal(t, float32(-1), base.At(1, 2, 1), "the view shares storage")

	// Merging the first two dimensions of the slice is possible (they are
	// contiguous with each other), merging the last two is not.
	m, ok := s.View(6, 2)
	require.True(t, ok)
	assert.Equal(t, []int{4, 1}, m.Strides())
	_, ok = s.View(2, 6)
	assert.False(t, ok)

	// A transposed matrix can gain unit dimensions but not be flattened.
	tr := tensor.Arange(0, 6, 1).Reshape(2, 3).T()
	u, ok := tr.View(3, 1, 2)
	require.True(t, ok)
	assert.Equal(t, tr.At(2, 1), u.At(2, 0, 1))
	_, ok = tr.View(6)
	assert.False(t, ok)

	// Contiguous tensors always view, with -1 inferred.
	c, ok := base.View(-1, 4)
	require.True(t, ok)
	assert.Equal(t, []int{6, 4}, c.Shape())
	assert.Panics(t, func() { base.View(5, -1) })
}

func TestViewMatchesReshapeValues(t *testing.T) {
	base := tensor.Arange(0, 60, 1).Reshape(3, 4, 5).Permute(1, 0, 2) // [4 3 5]
	for _, shape := range [][]int{{4, 3, 5}, {4, 15}, {2, 2, 3, 5}, {4, 3, 5, 1}, {1, 4, 3, 5}} {
		v, ok := base.View(shape...)
		if !ok {
			continue
		}
		assert.Equal(t, base.Reshape(shape...).Values(), v.Values(), "%v", shape)
	}
	_, ok := base.View(12, 5)
	assert.False(t, ok, "dims 0 and 1 are permuted: merging them needs a copy")
}
