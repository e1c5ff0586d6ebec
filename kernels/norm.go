package kernels

import "math"

// colGrain is the number of columns per parallel block when a kernel reduces
// over rows (the gradients of norm weights).
const colGrain = 64

// checkOptionalRow checks that each non-nil slice holds at least cols values.
func checkOptionalRow(op string, cols int, s ...[]float32) {
	for _, x := range s {
		if x != nil {
			checkRows(op, 1, cols, x)
		}
	}
}

// LayerNorm normalises each row of x (rows x cols) to zero mean and unit
// variance (biased), then scales by gamma and shifts by beta (either may be
// nil: 1 and 0). It stores each row's mean and 1/sqrt(var+eps) in mean and
// rstd, which LayerNormBackward needs.
func LayerNorm(dst, mean, rstd, x, gamma, beta []float32, rows, cols int, eps float32) {
	checkRows("LayerNorm", rows, cols, dst, x)
	checkRows("LayerNorm", rows, 1, mean, rstd)
	checkOptionalRow("LayerNorm", cols, gamma, beta)
	f := active.layerNormRow
	rowsParallel(rows, cols, func(r0, r1 int) {
		for r := r0; r < r1; r++ {
			mean[r], rstd[r] = f(dst[r*cols:(r+1)*cols], x[r*cols:(r+1)*cols], gamma, beta, eps)
		}
	})
}

// LayerNormBackward computes dx from dy for LayerNorm with saved mean and
// rstd, and adds the gradients of gamma and beta into dgamma and dbeta (each
// may be nil, and gamma nil means 1). dx may alias dy.
func LayerNormBackward(dx, dgamma, dbeta, dy, x, mean, rstd, gamma []float32, rows, cols int) {
	checkRows("LayerNormBackward", rows, cols, dx, dy, x)
	checkRows("LayerNormBackward", rows, 1, mean, rstd)
	checkOptionalRow("LayerNormBackward", cols, gamma, dgamma, dbeta)
	// Weight gradients first: dx may alias dy.
	if dgamma != nil || dbeta != nil {
		parallelFor(cols, colGrain, func(c0, c1 int) {
			for r := 0; r < rows; r++ {
				row := r * cols
				m, s := mean[r], rstd[r]
				for j := c0; j < c1; j++ {
					g := dy[row+j]
					if dgamma != nil {
						dgamma[j] += g * (x[row+j] - m) * s
					}
					if dbeta != nil {
						dbeta[j] += g
					}
				}
			}
		})
	}
	rowsParallel(rows, cols, func(r0, r1 int) {
		for r := r0; r < r1; r++ {
			xr, dyr, dxr := x[r*cols:(r+1)*cols], dy[r*cols:(r+1)*cols], dx[r*cols:(r+1)*cols]
			m, s := mean[r], rstd[r]
			var sumG, sumGX float32
			for j := range xr {
				g := dyr[j]
				if gamma != nil {
					g *= gamma[j]
				}
				sumG += g
				sumGX += g * (xr[j] - m) * s
			}
			n := float32(cols)
			sumG /= n
			sumGX /= n
			for j := range xr {
				g := dyr[j]
				if gamma != nil {
					g *= gamma[j]
				}
				xhat := (xr[j] - m) * s
				dxr[j] = s * (g - sumG - xhat*sumGX)
			}
		}
	})
}

// RMSNorm scales each row of x by 1/sqrt(mean(x^2)+eps) and by gamma (nil
// means 1), storing the factor per row in rstd.
func RMSNorm(dst, rstd, x, gamma []float32, rows, cols int, eps float32) {
	checkRows("RMSNorm", rows, cols, dst, x)
	checkRows("RMSNorm", rows, 1, rstd)
	checkOptionalRow("RMSNorm", cols, gamma)
	f := active.rmsNormRow
	rowsParallel(rows, cols, func(r0, r1 int) {
		for r := r0; r < r1; r++ {
			rstd[r] = f(dst[r*cols:(r+1)*cols], x[r*cols:(r+1)*cols], gamma, eps)
		}
	})
}

// RMSNormBackward computes dx from dy for RMSNorm with saved rstd and adds
// the gradient of gamma into dgamma (may be nil). dx may alias dy.
func RMSNormBackward(dx, dgamma, dy, x, rstd, gamma []float32, rows, cols int) {
	checkRows("RMSNormBackward", rows, cols, dx, dy, x)
	checkRows("RMSNormBackward", rows, 1, rstd)
	checkOptionalRow("RMSNormBackward", cols, gamma, dgamma)
	if dgamma != nil {
		parallelFor(cols, colGrain, func(c0, c1 int) {
			for r := 0; r < rows; r++ {
				row := r * cols
				s := rstd[r]
				for j := c0; j < c1; j++ {
					dgamma[j] += dy[row+j] * x[row+j] * s
				}
			}
		})
	}
	rowsParallel(rows, cols, func(r0, r1 int) {
		for r := r0; r < r1; r++ {
			xr, dyr, dxr := x[r*cols:(r+1)*cols], dy[r*cols:(r+1)*cols], dx[r*cols:(r+1)*cols]
			s := rstd[r]
			var dot float32
			for j := range xr {
				g := dyr[j]
				if gamma != nil {
					g *= gamma[j]
				}
				dot += g * xr[j]
			}
			k := dot * s * s / float32(cols)
			for j := range xr {
				g := dyr[j]
				if gamma != nil {
					g *= gamma[j]
				}
				dxr[j] = s * (g - xr[j]*k)
			}
		}
	})
}

func layerNormRowGeneric(dst, x, gamma, beta []float32, eps float32) (float32, float32) {
	var s float64
	for _, v := range x {
		s += float64(v)
	}
	m := s / float64(len(x))
	var ss float64
	for _, v := range x {
		d := float64(v) - m
		ss += d * d
	}
	rs := 1 / math.Sqrt(ss/float64(len(x))+float64(eps))
	mean, rstd := float32(m), float32(rs)
	for j, v := range x {
		y := (v - mean) * rstd
		if gamma != nil {
			y *= gamma[j]
		}
		if beta != nil {
			y += beta[j]
		}
		dst[j] = y
	}
	return mean, rstd
}

func rmsNormRowGeneric(dst, x, gamma []float32, eps float32) float32 {
	var ss float64
	for _, v := range x {
		ss += float64(v) * float64(v)
	}
	rstd := float32(1 / math.Sqrt(ss/float64(len(x))+float64(eps)))
	for j, v := range x {
		y := v * rstd
		if gamma != nil {
			y *= gamma[j]
		}
		dst[j] = y
	}
	return rstd
}
