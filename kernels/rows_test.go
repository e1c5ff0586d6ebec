package kernels

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestFillRows(t *testing.T) {
	for _, rows := range []int{0, 1, 3, 5000} {
		dst := make([]float32, rows*3)
		FillRows(dst, []float32{1, 2, 3}, rows, 3)
		for r := 0; r < rows; r++ {
			assert.Equal(t, []float32{1, 2, 3}, dst[r*3:(r+1)*3])
		}
	}
	assert.PanicsWithValue(t, "kernels.FillRows: slice of length 2 is too short for [1 3]", func() {
		FillRows(make([]float32, 3), []float32{1, 2}, 1, 3)
	})
}
