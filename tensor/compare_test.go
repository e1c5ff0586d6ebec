package tensor_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/kiln-ml/kiln/tensor"
)

var (
	nan32    = float32(math.NaN())
	posInf32 = float32(math.Inf(1))
	negInf32 = float32(math.Inf(-1))
)

func vec(v ...float32) *tensor.Tensor { return tensor.FromSlice(v, len(v)) }

func TestAllClose(t *testing.T) {
	tests := []struct {
		name       string
		a, b       *tensor.Tensor
		rtol, atol float64
		want       bool
	}{
		{"equal", vec(1, 2, 3), vec(1, 2, 3), 0, 0, true},
		{"within atol", vec(1, 2), vec(1.001, 2), 0, 0.002, true},
		{"outside atol", vec(1, 2), vec(1.01, 2), 0, 0.002, false},
		{"within rtol of b", vec(100, 1), vec(101, 1), 0.01, 0, true},
		{"outside rtol of b", vec(100, 1), vec(102, 1), 0.01, 0, false},
		{"rtol is relative to b", vec(101), vec(100), 0.0099, 0, false},
		{"atol plus rtol", vec(10.15), vec(10), 0.01, 0.06, true},
		{"NaN never close", vec(nan32), vec(nan32), 1, 1, false},
		{"NaN vs number", vec(1, nan32), vec(1, 1), 1, 1, false},
		{"equal infinities", vec(posInf32, negInf32), vec(posInf32, negInf32), 0, 0, true},
		{"opposite infinities", vec(posInf32), vec(negInf32), 1, 1, false},
		{"infinity vs large", vec(posInf32), vec(3e38), 1, 1, false},
		{"large vs infinity", vec(3e38), vec(posInf32), 1, 1, false},
		{"signed zeros", vec(0), vec(float32(math.Copysign(0, -1))), 0, 0, true},
		{"shape mismatch", tensor.New(2, 3), tensor.New(3, 2), 1, 1, false},
		{"same size, other rank", tensor.New(6), tensor.New(2, 3), 1, 1, false},
		{"transposed view", seq(2, 3).T(), seq(2, 3).T().Contiguous(), 0, 0, true},
		{"view vs other view", seq(2, 3).T(), seq(3, 2), 0, 0, false},
		{"0-d", tensor.Scalar(1), tensor.Scalar(1 + 1e-7), 1e-6, 0, true},
		{"empty", tensor.New(0, 2), tensor.New(0, 2), 0, 0, true},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, tensor.AllClose(tc.a, tc.b, tc.rtol, tc.atol), tc.name)
	}
}

func TestMaxAbsDiff(t *testing.T) {
	tests := []struct {
		name string
		a, b *tensor.Tensor
		want float64
	}{
		{"equal", vec(1, 2, 3), vec(1, 2, 3), 0},
		{"largest", vec(1, 2, 3), vec(1.5, 0, 3.25), 2},
		{"negative differences", vec(-4, 1), vec(1, 1), 5},
		{"NaN first", vec(nan32, 1), vec(1, 100), math.NaN()},
		{"NaN last", vec(1, nan32), vec(100, 1), math.NaN()},
		{"NaN in b", vec(1, 2), vec(1, nan32), math.NaN()},
		{"equal infinities", vec(posInf32, negInf32, 1), vec(posInf32, negInf32, 1.5), 0.5},
		{"infinity vs number", vec(posInf32, 1), vec(1, 1), math.Inf(1)},
		{"opposite infinities", vec(negInf32), vec(posInf32), math.Inf(1)},
		{"views", seq(2, 3).T(), seq(3, 2), 2},
		{"0-d", tensor.Scalar(2), tensor.Scalar(-1), 3},
		{"empty", tensor.New(0), tensor.New(0), 0},
		{"shape mismatch", tensor.New(2), tensor.New(3), math.Inf(1)},
	}
	for _, tc := range tests {
		got := tensor.MaxAbsDiff(tc.a, tc.b)
		if math.IsNaN(tc.want) {
			assert.True(t, math.IsNaN(got), "%s: got %v, want NaN", tc.name, got)
			continue
		}
		assert.Equal(t, tc.want, got, tc.name)
	}
}

func TestEqual(t *testing.T) {
	negZero := float32(math.Copysign(0, -1))
	assert.True(t, tensor.Equal(vec(1, 2), vec(1, 2)))
	assert.False(t, tensor.Equal(vec(1, 2), vec(1, 2.0000002)))
	assert.True(t, tensor.Equal(vec(nan32), vec(nan32)), "the same NaN bits are equal")
	assert.False(t, tensor.Equal(vec(0), vec(negZero)), "bitwise: +0 and -0 differ")
	assert.True(t, tensor.Equal(vec(posInf32), vec(posInf32)))
	assert.False(t, tensor.Equal(tensor.New(2, 3), tensor.New(6)))
	assert.True(t, tensor.Equal(seq(2, 3).T(), seq(2, 3).T().Contiguous()))
	assert.False(t, tensor.Equal(seq(2, 3).T(), seq(3, 2)))
	assert.True(t, tensor.Equal(tensor.Scalar(2).Expand(2, 2), tensor.Full(2, 2, 2)))
	assert.True(t, tensor.Equal(tensor.New(0, 3), tensor.New(0, 3)))
}
