package tensor_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/kiln-ml/kiln/tensor"
)

func TestString(t *testing.T) {
	tests := []struct {
		name string
		x    *tensor.Tensor
		want string
	}{
		{"0-d", tensor.Scalar(1.5), "tensor(1.5, shape=[])"},
		{"1-d", vec(1, 2, 3), "tensor([1, 2, 3], shape=[3])"},
		{"one element", vec(-7), "tensor([-7], shape=[1])"},
		{"2-d", seq(2, 3), "" +
			"tensor([[0, 1, 2],\n" +
			"        [3, 4, 5]], shape=[2 3])"},
		{"3-d", seq(2, 2, 2), "" +
			"tensor([[[0, 1],\n" +
			"         [2, 3]],\n" +
			"        [[4, 5],\n" +
			"         [6, 7]]], shape=[2 2 2])"},
		{"transposed view", seq(2, 3).T(), "" +
			"tensor([[0, 3],\n" +
			"        [1, 4],\n" +
			"        [2, 5]], shape=[3 2])"},
		{"expanded view", vec(1, 2).Expand(2, 2), "" +
			"tensor([[1, 2],\n" +
			"        [1, 2]], shape=[2 2])"},
		{"seven is not elided", seq(7), "tensor([0, 1, 2, 3, 4, 5, 6], shape=[7])"},
		{"long 1-d", seq(10), "tensor([0, 1, 2, ..., 7, 8, 9], shape=[10])"},
		{"long rows", seq(2, 8), "" +
			"tensor([[0, 1, 2, ..., 5, 6, 7],\n" +
			"        [8, 9, 10, ..., 13, 14, 15]], shape=[2 8])"},
		{"long columns", seq(8, 2), "" +
			"tensor([[0, 1],\n" +
			"        [2, 3],\n" +
			"        [4, 5],\n" +
			"        ...,\n" +
			"        [10, 11],\n" +
			"        [12, 13],\n" +
			"        [14, 15]], shape=[8 2])"},
		{"long 3-d", seq(8, 1, 1), "" +
			"tensor([[[0]],\n" +
			"        [[1]],\n" +
			"        [[2]],\n" +
			"        ...,\n" +
			"        [[5]],\n" +
			"        [[6]],\n" +
			"        [[7]]], shape=[8 1 1])"},
		{"special values", vec(0.5, -1.25, 1e6, 1.2345678e-5, nan32, posInf32, negInf32),
			"tensor([0.5, -1.25, 1e+06, 1.23457e-05, NaN, +Inf, -Inf], shape=[7])"},
		{"empty", tensor.New(0), "tensor([], shape=[0])"},
		{"empty rows", tensor.New(2, 0), "" +
			"tensor([[],\n" +
			"        []], shape=[2 0])"},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, tc.x.String(), tc.name)
		assert.Equal(t, tc.want, fmt.Sprint(tc.x), tc.name)
	}
}

func TestStringOfLargeTensorIsShort(t *testing.T) {
	s := tensor.New(1000, 1000).String()
	assert.Equal(t, 6, strings.Count(s, "\n"), "3 rows, an ellipsis, 3 rows")
	assert.Less(t, len(s), 400)
}
