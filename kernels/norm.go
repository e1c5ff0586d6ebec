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
	// The closures are built only for parallel work: small calls do not
	// allocate.
	if rowsSerial(rows, cols) {
		layerNormRows(f, dst, mean, rstd, x, gamma, beta, eps, cols, 0, rows)
		return
	}
	rowsParallel(rows, cols, func(r0, r1 int) {
		layerNormRows(f, dst, mean, rstd, x, gamma, beta, eps, cols, r0, r1)
	})
}

func layerNormRows(f func(dst, x, gamma, beta []float32, eps float32) (float32, float32),
	dst, mean, rstd, x, gamma, beta []float32, eps float32, cols, r0, r1 int) {
	for r := r0; r < r1; r++ {
		mean[r], rstd[r] = f(dst[r*cols:(r+1)*cols], x[r*cols:(r+1)*cols], gamma, beta, eps)
	}
}

// LayerNormBackward computes dx from dy for LayerNorm with saved mean and
// rstd, and adds the gradients of gamma and beta into dgamma and dbeta (each
// may be nil, and gamma nil means 1). dx may alias dy.
func LayerNormBackward(dx, dgamma, dbeta, dy, x, mean, rstd, gamma []float32, rows, cols int) {
	checkRows("LayerNormBackward", rows, cols, dx, dy, x)
	checkRows("LayerNormBackward", rows, 1, mean, rstd)
	checkOptionalRow("LayerNormBackward", cols, gamma, dgamma, dbeta)
	k := activeNormBackward()
	if gamma != nil {
		gamma = gamma[:cols]
	}
	weights := dgamma != nil || dbeta != nil
	// Weight gradients first: dx may alias dy.
	if rowsSerial(rows, cols) {
		if weights {
			layerNormWeightGrads(k, dgamma, dbeta, dy, x, mean, rstd, rows, cols, 0, cols)
		}
		layerNormInputGrads(k, dx, dy, x, gamma, mean, rstd, cols, 0, rows)
		return
	}
	if weights {
		parallelFor(cols, weightGrain(cols), func(c0, c1 int) {
			layerNormWeightGrads(k, dgamma, dbeta, dy, x, mean, rstd, rows, cols, c0, c1)
		})
	}
	rowsParallel(rows, cols, func(r0, r1 int) {
		layerNormInputGrads(k, dx, dy, x, gamma, mean, rstd, cols, r0, r1)
	})
}

// layerNormWeightGrads adds columns [c0, c1) of the gamma and beta gradients.
func layerNormWeightGrads(k *normBackwardKernels, dgamma, dbeta, dy, x, mean, rstd []float32, rows, cols, c0, c1 int) {
	for r := 0; r < rows; r++ {
		dyr := dy[r*cols+c0 : r*cols+c1]
		if dgamma != nil {
			k.accDev(dgamma[c0:c1], dyr, x[r*cols+c0:r*cols+c1], mean[r], rstd[r])
		}
		if dbeta != nil {
			k.add(dbeta[c0:c1], dbeta[c0:c1], dyr)
		}
	}
}

func layerNormInputGrads(k *normBackwardKernels, dx, dy, x, gamma, mean, rstd []float32, cols, r0, r1 int) {
	for r := r0; r < r1; r++ {
		k.layerNormRow(dx[r*cols:(r+1)*cols], dy[r*cols:(r+1)*cols], x[r*cols:(r+1)*cols], gamma, mean[r], rstd[r])
	}
}

// RMSNorm scales each row of x by 1/sqrt(mean(x^2)+eps) and by gamma (nil
// means 1), storing the factor per row in rstd.
func RMSNorm(dst, rstd, x, gamma []float32, rows, cols int, eps float32) {
	checkRows("RMSNorm", rows, cols, dst, x)
	checkRows("RMSNorm", rows, 1, rstd)
	checkOptionalRow("RMSNorm", cols, gamma)
	f := active.rmsNormRow
	if rowsSerial(rows, cols) {
		rmsNormRows(f, dst, rstd, x, gamma, eps, cols, 0, rows)
		return
	}
	rowsParallel(rows, cols, func(r0, r1 int) { rmsNormRows(f, dst, rstd, x, gamma, eps, cols, r0, r1) })
}

func rmsNormRows(f func(dst, x, gamma []float32, eps float32) float32, dst, rstd, x, gamma []float32, eps float32, cols, r0, r1 int) {
	for r := r0; r < r1; r++ {
		rstd[r] = f(dst[r*cols:(r+1)*cols], x[r*cols:(r+1)*cols], gamma, eps)
	}
}

// RMSNormBackward computes dx from dy for RMSNorm with saved rstd and adds
// the gradient of gamma into dgamma (may be nil). dx may alias dy.
func RMSNormBackward(dx, dgamma, dy, x, rstd, gamma []float32, rows, cols int) {
	checkRows("RMSNormBackward", rows, cols, dx, dy, x)
	checkRows("RMSNormBackward", rows, 1, rstd)
	checkOptionalRow("RMSNormBackward", cols, gamma, dgamma)
	k := activeNormBackward()
	if gamma != nil {
		gamma = gamma[:cols]
	}
	if rowsSerial(rows, cols) {
		if dgamma != nil {
			rmsNormWeightGrads(k, dgamma, dy, x, rstd, rows, cols, 0, cols)
		}
		rmsNormInputGrads(k, dx, dy, x, gamma, rstd, cols, 0, rows)
		return
	}
	if dgamma != nil {
		parallelFor(cols, weightGrain(cols), func(c0, c1 int) {
			rmsNormWeightGrads(k, dgamma, dy, x, rstd, rows, cols, c0, c1)
		})
	}
	rowsParallel(rows, cols, func(r0, r1 int) { rmsNormInputGrads(k, dx, dy, x, gamma, rstd, cols, r0, r1) })
}

func rmsNormWeightGrads(k *normBackwardKernels, dgamma, dy, x, rstd []float32, rows, cols, c0, c1 int) {
	for r := 0; r < rows; r++ {
		k.accDev(dgamma[c0:c1], dy[r*cols+c0:r*cols+c1], x[r*cols+c0:r*cols+c1], 0, rstd[r])
	}
}

func rmsNormInputGrads(k *normBackwardKernels, dx, dy, x, gamma, rstd []float32, cols, r0, r1 int) {
	for r := r0; r < r1; r++ {
		k.rmsNormRow(dx[r*cols:(r+1)*cols], dy[r*cols:(r+1)*cols], x[r*cols:(r+1)*cols], gamma, rstd[r])
	}
}

// weightGrain is the column block of a weight gradient split over threads.
// Each column is summed over the rows in row order whatever the split, so
// the block may depend on the shape: about eight blocks, at least colGrain
// columns each.
func weightGrain(cols int) int { return max(colGrain, (cols/8+7)&^7) }

// normBackwardKernels are the per-path kernels of the norm gradients. They
// are looked up by path name so that a path can supply them without adding
// to impl.
type normBackwardKernels struct {
	// layerNormRow sets dx = rstd * (g - mean(g) - xhat*mean(g*xhat)) for
	// one row, with g = dy*gamma and xhat = (x-mean)*rstd.
	layerNormRow func(dx, dy, x, gamma []float32, mean, rstd float32)
	// rmsNormRow sets dx = rstd * (g - x*rstd²*mean(g*x)) for one row.
	rmsNormRow func(dx, dy, x, gamma []float32, rstd float32)
	// accDev sets acc += dy * ((x-m)*s).
	accDev func(acc, dy, x []float32, m, s float32)
	add    func(dst, a, b []float32)
}

var (
	genericNormBackward = normBackwardKernels{
		layerNormRow: layerNormBackwardRowGeneric,
		rmsNormRow:   rmsNormBackwardRowGeneric,
		accDev:       accDevGeneric,
		add:          addGeneric,
	}
)

func activeNormBackward() *normBackwardKernels { return active.normBackward }

func layerNormBackwardRowGeneric(dx, dy, x, gamma []float32, m, s float32) {
	dy, x = dy[:len(dx)], x[:len(dx)]
	var sumG, sumGX float32
	for j := range x {
		g := dy[j]
		if gamma != nil {
			g *= gamma[j]
		}
		sumG += g
		sumGX += g * (x[j] - m)
	}
	n := float32(len(dx))
	sumG /= n
	sumGX = sumGX * s / n
	for j := range x {
		g := dy[j]
		if gamma != nil {
			g *= gamma[j]
		}
		xhat := (x[j] - m) * s
		dx[j] = s * (g - sumG - xhat*sumGX)
	}
}

func rmsNormBackwardRowGeneric(dx, dy, x, gamma []float32, s float32) {
	dy, x = dy[:len(dx)], x[:len(dx)]
	var dot float32
	for j := range x {
		g := dy[j]
		if gamma != nil {
			g *= gamma[j]
		}
		dot += g * x[j]
	}
	k := dot * s * s / float32(len(dx))
	for j := range x {
		g := dy[j]
		if gamma != nil {
			g *= gamma[j]
		}
		dx[j] = s * (g - x[j]*k)
	}
}

func accDevGeneric(acc, dy, x []float32, m, s float32) {
	dy, x = dy[:len(acc)], x[:len(acc)]
	for j := range acc {
		acc[j] += dy[j] * ((x[j] - m) * s)
	}
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
