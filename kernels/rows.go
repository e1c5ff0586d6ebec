package kernels

// FillRows copies v (length cols) into each of the rows of dst (rows x
// cols, contiguous): the bias a GEMM with beta = 1 then adds to.
func FillRows(dst, v []float32, rows, cols int) {
	checkRows("FillRows", rows, cols, dst)
	checkRows("FillRows", 1, cols, v)
	v = v[:cols]
	rowsParallel(rows, cols, func(r0, r1 int) {
		for r := r0; r < r1; r++ {
			copy(dst[r*cols:(r+1)*cols], v)
		}
	})
}
