package kernels

import "fmt"

// Sgemm computes C = alpha*op(A)*op(B) + beta*C with BLAS semantics on
// row-major storage: op(A) is m x k (A is k x m with leading dimension lda if
// transA), op(B) is k x n, C is m x n with leading dimension ldc. When beta is
// 0, C is not read (NaNs in C do not propagate).
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkGemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func checkGemm(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("kernels.Sgemm: negative dimension m=%d n=%d k=%d", m, n, k))
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	checkMat := func(name string, s []float32, rows, cols, ld int) {
		if rows == 0 || cols == 0 {
			return
		}
		if ld < max(cols, 1) {
			panic(fmt.Sprintf("kernels.Sgemm: ld%s=%d is less than the %d columns of %s (%dx%d)", name, ld, cols, name, rows, cols))
		}
		if need := (rows-1)*ld + cols; len(s) < need {
			panic(fmt.Sprintf("kernels.Sgemm: %s (%dx%d, ld=%d) needs %d elements, has %d", name, rows, cols, ld, need, len(s)))
		}
	}
	checkMat("a", a, ar, ac, lda)
	checkMat("b", b, br, bc, ldb)
	checkMat("c", c, m, n, ldc)
}

// gemmRowGrain is the number of rows of C per parallel block.
const gemmRowGrain = 16

func sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	parallelFor(m, gemmRowGrain, func(i0, i1 int) {
		for i := i0; i < i1; i++ {
			crow := c[i*ldc : i*ldc+n]
			if beta == 0 {
				clear(crow)
			} else if beta != 1 {
				for j := range crow {
					crow[j] *= beta
				}
			}
			if alpha == 0 {
				continue
			}
			if transB && !transA {
				arow := a[i*lda : i*lda+k]
				for j := range crow {
					crow[j] += alpha * dotGeneric(arow, b[j*ldb:j*ldb+k])
				}
				continue
			}
			for p := 0; p < k; p++ {
				var aip float32
				if transA {
					aip = a[p*lda+i]
				} else {
					aip = a[i*lda+p]
				}
				aip *= alpha
				if aip == 0 {
					continue
				}
				if transB {
					for j := range crow {
						crow[j] += aip * b[j*ldb+p]
					}
				} else {
					axpyGeneric(crow, aip, b[p*ldb:p*ldb+n])
				}
			}
		}
	})
}
