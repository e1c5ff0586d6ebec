//go:build kilndebug

package tensor_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/tensor"
)

// With the kilndebug tag, Put poisons released storage with NaN, so a
// tensor used after its storage went back to the pool shows NaNs.
func TestPoolPoisonsReleasedStorage(t *testing.T) {
	var p tensor.Pool
	x := p.Get(2, 3)
	x.Fill(1)
	view := x.T()
	p.Put(x.Storage())
	for _, v := range x.Storage() {
		assert.True(t, math.IsNaN(float64(v)), "released storage holds %v, want NaN", v)
	}
	assert.True(t, math.IsNaN(float64(view.At(2, 1))), "a view of released storage sees NaN")
	assert.True(t, math.IsNaN(float64(tensor.Add(view, tensor.Ones(3, 2)).At(0, 0))))

	// GetZeroed clears the poison; Get leaves it.
	z := p.GetZeroed(6)
	require.Equal(t, []float32{0, 0, 0, 0, 0, 0}, z.Data())
	p.Put(z.Storage())
	for _, v := range p.Get(3, 2).Data() {
		assert.True(t, math.IsNaN(float64(v)))
	}
}

// Poisoning stays within the slice that was released.
func TestPoolPoisonsOnlyTheReleasedSlice(t *testing.T) {
	var p tensor.Pool
	buf := []float32{1, 2, 3, 4, 5, 6}
	p.Put(buf[:2])
	assert.True(t, math.IsNaN(float64(buf[0])))
	assert.True(t, math.IsNaN(float64(buf[1])))
	assert.Equal(t, []float32{3, 4, 5, 6}, buf[2:])
}
