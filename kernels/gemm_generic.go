package kernels

// gemmGeneric is the portable GEMM: a 4x4 register tile in plain Go. Scalar
// code gains nothing from a wider tile (the compiler would spill it), and
// with 4x4 the packed slivers stay small enough for L1 at any kc.
var gemmGeneric = gemmKernels{
	mr: 4, nr: 4,
	kc: 256, mc: 128, nc: 1024,
	tile: gemmTileGeneric,
}

func gemmTileGeneric(rows, cols, k int, a []float32, rsA, csA int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32) {
	if rows == 4 && cols == 4 {
		gemmTile4x4Generic(k, a, rsA, csA, b, ldb, c, ldc, alpha, beta)
		return
	}
	var acc [4][4]float32
	for p := 0; p < k; p++ {
		bp := b[p*ldb : p*ldb+cols]
		for i := 0; i < rows; i++ {
			aip := a[i*rsA+p*csA]
			row := &acc[i]
			for jj, bv := range bp {
				row[jj] += aip * bv
			}
		}
	}
	storeTile(rows, cols, &acc, c, ldc, alpha, beta)
}

func storeTile(rows, cols int, acc *[4][4]float32, c []float32, ldc int, alpha, beta float32) {
	for i := 0; i < rows; i++ {
		crow := c[i*ldc : i*ldc+cols]
		for jj := range crow {
			v := alpha * acc[i][jj]
			if beta != 0 {
				v += beta * crow[jj]
			}
			crow[jj] = v
		}
	}
}

func gemmTile4x4Generic(k int, a []float32, rsA, csA int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32) {
	var c00, c01, c02, c03 float32
	var c10, c11, c12, c13 float32
	var c20, c21, c22, c23 float32
	var c30, c31, c32, c33 float32
	a0 := a[:(k-1)*csA+1]
	a1 := a[rsA : rsA+(k-1)*csA+1]
	a2 := a[2*rsA : 2*rsA+(k-1)*csA+1]
	a3 := a[3*rsA : 3*rsA+(k-1)*csA+1]
	b = b[:(k-1)*ldb+4]
	for p, ap := 0, 0; p < k; p, ap = p+1, ap+csA {
		bp := b[p*ldb : p*ldb+4 : p*ldb+4]
		b0, b1, b2, b3 := bp[0], bp[1], bp[2], bp[3]
		x := a0[ap]
		c00 += x * b0
		c01 += x * b1
		c02 += x * b2
		c03 += x * b3
		x = a1[ap]
		c10 += x * b0
		c11 += x * b1
		c12 += x * b2
		c13 += x * b3
		x = a2[ap]
		c20 += x * b0
		c21 += x * b1
		c22 += x * b2
		c23 += x * b3
		x = a3[ap]
		c30 += x * b0
		c31 += x * b1
		c32 += x * b2
		c33 += x * b3
	}
	acc := [4][4]float32{
		{c00, c01, c02, c03},
		{c10, c11, c12, c13},
		{c20, c21, c22, c23},
		{c30, c31, c32, c33},
	}
	storeTile(4, 4, &acc, c, ldc, alpha, beta)
}
