package kernels

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// normInputs returns rows of random values around 0, rows with a large
// offset and a small spread, and constant rows (zero variance).
func normInputs(seed uint64, rows, cols int) []float32 {
	r := newTestRand(seed)
	x := normalSlice(r, rows*cols, 0.3, 1.5)
	for row := 0; row < rows; row++ {
		xr := x[row*cols : (row+1)*cols]
		switch row % 4 {
		case 1:
			for j := range xr {
				xr[j] = 100 + xr[j]/10
			}
		case 2:
			for j := range xr {
				xr[j] = -2.5
			}
		}
	}
	return x
}

// layerNormRef returns the float64 mean and 1/sqrt(var+eps) of a row.
func layerNormRef(x []float32, eps float32) (m, r, absMean float64) {
	for _, v := range x {
		m += float64(v)
		absMean += math.Abs(float64(v))
	}
	n := float64(len(x))
	m /= n
	absMean /= n
	var ss float64
	for _, v := range x {
		d := float64(v) - m
		ss += d * d
	}
	return m, 1 / math.Sqrt(ss/n+float64(eps)), absMean
}

func at(s []float32, j int, def float64) float64 {
	if s == nil {
		return def
	}
	return float64(s[j])
}

func TestLayerNorm(t *testing.T) {
	const eps = 1e-5
	onEveryPath(t, func(t *testing.T) {
		for _, sh := range rowShapes {
			rows, cols := sh[0], sh[1]
			x := normInputs(uint64(rows*cols), rows, cols)
			r := newTestRand(uint64(rows + cols))
			g, b := normalSlice(r, cols, 1, 0.5), normalSlice(r, cols, 0, 0.5)
			for _, aff := range []struct{ gamma, beta []float32 }{{g, b}, {g, nil}, {nil, b}, {nil, nil}} {
				what := fmt.Sprintf("[%d %d] gamma=%v beta=%v", rows, cols, aff.gamma != nil, aff.beta != nil)
				dst := make([]float32, rows*cols)
				mean, rstd := make([]float32, rows), make([]float32, rows)
				LayerNorm(dst, mean, rstd, x, aff.gamma, aff.beta, rows, cols, eps)
				if cols == 0 {
					continue
				}
			rowLoop:
				for row := 0; row < rows; row++ {
					xr, yr := x[row*cols:(row+1)*cols], dst[row*cols:(row+1)*cols]
					m, rs, am := layerNormRef(xr, eps)
					dm := 4 * epsF32 * am
					if !inDelta(t, m, float64(mean[row]), dm+1e-30, "%s row %d mean", what, row) ||
						!assert.InDeltaf(t, rs, float64(rstd[row]), 16*epsF32*rs, "%s row %d rstd", what, row) {
						break
					}
					for j := range xr {
						gj, bj := at(aff.gamma, j, 1), at(aff.beta, j, 0)
						d := float64(xr[j]) - m
						want := d*rs*gj + bj
						tol := math.Abs(gj)*rs*(16*epsF32*math.Abs(d)+dm) + 4*epsF32*(math.Abs(want)+math.Abs(bj))
						if !inDelta(t, want, float64(yr[j]), tol, "%s row %d col %d", what, row, j) {
							break rowLoop
						}
					}
				}
				in := cloneF32(x)
				m2, r2 := make([]float32, rows), make([]float32, rows)
				LayerNorm(in, m2, r2, in, aff.gamma, aff.beta, rows, cols, eps)
				assertSameSlices(t, dst, in, what+" in place")
			}
		}
	})
}

// layerNormBackwardRef is the analytic gradient in float64, from the mean
// and rstd the forward pass saved.
func layerNormBackwardRef(dy, x, mean, rstd, gamma []float32, rows, cols int) (dx, dgamma, dbeta, tolDx []float64) {
	dx, tolDx = make([]float64, rows*cols), make([]float64, rows*cols)
	dgamma, dbeta = make([]float64, cols), make([]float64, cols)
	n := float64(cols)
	c := (2*math.Sqrt(n) + 8) * epsF32
	for r := 0; r < rows; r++ {
		m, s := float64(mean[r]), float64(rstd[r])
		var a, b, aAbs, bAbs float64
		for j := 0; j < cols; j++ {
			k := r*cols + j
			xhat := (float64(x[k]) - m) * s
			g := float64(dy[k]) * at(gamma, j, 1)
			a += g
			b += g * xhat
			aAbs += math.Abs(g)
			bAbs += math.Abs(g * xhat)
			dgamma[j] += float64(dy[k]) * xhat
			dbeta[j] += float64(dy[k])
		}
		a, b, aAbs, bAbs = a/n, b/n, aAbs/n, bAbs/n
		for j := 0; j < cols; j++ {
			k := r*cols + j
			xhat := (float64(x[k]) - m) * s
			g := float64(dy[k]) * at(gamma, j, 1)
			dx[k] = s * (g - a - xhat*b)
			tolDx[k] = s * (8*epsF32*(math.Abs(g)+aAbs+math.Abs(xhat)*bAbs) + c*(aAbs+math.Abs(xhat)*bAbs))
		}
	}
	return dx, dgamma, dbeta, tolDx
}

func TestLayerNormBackward(t *testing.T) {
	onEveryPath(t, func(t *testing.T) {
		for _, sh := range rowShapes {
			rows, cols := sh[0], sh[1]
			x := normInputs(uint64(rows*cols)+5, rows, cols)
			r := newTestRand(uint64(rows+cols) + 5)
			gamma := normalSlice(r, cols, 1, 0.5)
			dy := normalSlice(r, rows*cols, 0, 1)
			mean, rstd := make([]float32, rows), make([]float32, rows)
			LayerNorm(make([]float32, rows*cols), mean, rstd, x, gamma, nil, rows, cols, 1e-5)
			dg0, db0 := normalSlice(r, cols, 0, 1), normalSlice(r, cols, 0, 1)
			for _, g := range [][]float32{gamma, nil} {
				what := fmt.Sprintf("[%d %d] gamma=%v", rows, cols, g != nil)
				dx := make([]float32, rows*cols)
				dgamma, dbeta := cloneF32(dg0), cloneF32(db0)
				LayerNormBackward(dx, dgamma, dbeta, dy, x, mean, rstd, g, rows, cols)
				wantDx, wantDg, wantDb, tolDx := layerNormBackwardRef(dy, x, mean, rstd, g, rows, cols)
				for k := range dx {
					if !inDelta(t, wantDx[k], float64(dx[k]), tolDx[k]+1e-30, "%s dx[%d]", what, k) {
						break
					}
				}
				cr := (2*math.Sqrt(float64(rows)) + 8) * epsF32
				for j := 0; j < cols; j++ {
					var absG, absB float64
					for row := 0; row < rows; row++ {
						k := row*cols + j
						absG += math.Abs(float64(dy[k]) * (float64(x[k]) - float64(mean[row])) * float64(rstd[row]))
						absB += math.Abs(float64(dy[k]))
					}
					assert.InDeltaf(t, float64(dg0[j])+wantDg[j], float64(dgamma[j]), cr*(absG+math.Abs(float64(dg0[j]))), "%s dgamma[%d]", what, j)
					assert.InDeltaf(t, float64(db0[j])+wantDb[j], float64(dbeta[j]), cr*(absB+math.Abs(float64(db0[j]))), "%s dbeta[%d]", what, j)
				}

				// dx may alias dy; the weight gradients are optional.
				d := cloneF32(dy)
				LayerNormBackward(d, nil, nil, d, x, mean, rstd, g, rows, cols)
				assertSameSlices(t, dx, d, what+" dx==dy")
				dg := cloneF32(dg0)
				LayerNormBackward(d, dg, nil, dy, x, mean, rstd, g, rows, cols)
				assertSameSlices(t, dgamma, dg, what+" dgamma without dbeta")
				db := cloneF32(db0)
				LayerNormBackward(d, nil, db, dy, x, mean, rstd, g, rows, cols)
				assertSameSlices(t, dbeta, db, what+" dbeta without dgamma")
			}
		}
	})
}

// layerNorm64 is LayerNorm in float64, for finite differences.
func layerNorm64(x, gamma, beta []float64, eps float64) []float64 {
	n := float64(len(x))
	var m, ss float64
	for _, v := range x {
		m += v
	}
	m /= n
	for _, v := range x {
		ss += (v - m) * (v - m)
	}
	r := 1 / math.Sqrt(ss/n+eps)
	y := make([]float64, len(x))
	for j, v := range x {
		y[j] = (v-m)*r*gamma[j] + beta[j]
	}
	return y
}

func rmsNorm64(x, gamma []float64, eps float64) []float64 {
	var ss float64
	for _, v := range x {
		ss += v * v
	}
	r := 1 / math.Sqrt(ss/float64(len(x))+eps)
	y := make([]float64, len(x))
	for j, v := range x {
		y[j] = v * r * gamma[j]
	}
	return y
}

func to64(s []float32) []float64 {
	d := make([]float64, len(s))
	for i, v := range s {
		d[i] = float64(v)
	}
	return d
}

// gradFD returns the central-difference gradient of f at each element of p.
func gradFD(p []float64, f func() float64) []float64 {
	g := make([]float64, len(p))
	for j := range p {
		const h = 1e-6
		orig := p[j]
		p[j] = orig + h
		lp := f()
		p[j] = orig - h
		lm := f()
		p[j] = orig
		g[j] = (lp - lm) / (2 * h)
	}
	return g
}

func TestNormBackwardMatchesFiniteDifferences(t *testing.T) {
	// L = sum(w * norm(x)): the backward kernels applied to dy = w must give
	// dL/dx, dL/dgamma and dL/dbeta.
	const cols, eps = 13, 1e-5
	onEveryPath(t, func(t *testing.T) {
		r := newTestRand(17)
		x := normalSlice(r, cols, 0.5, 2)
		gamma := normalSlice(r, cols, 1, 0.3)
		beta := normalSlice(r, cols, 0, 0.3)
		w := normalSlice(r, cols, 0, 1)
		x64, g64, b64, w64 := to64(x), to64(gamma), to64(beta), to64(w)
		loss := func(y []float64) float64 {
			var l float64
			for j, v := range y {
				l += w64[j] * v
			}
			return l
		}

		mean, rstd := make([]float32, 1), make([]float32, 1)
		LayerNorm(make([]float32, cols), mean, rstd, x, gamma, beta, 1, cols, eps)
		dx, dg, db := make([]float32, cols), make([]float32, cols), make([]float32, cols)
		LayerNormBackward(dx, dg, db, w, x, mean, rstd, gamma, 1, cols)
		ln := func() float64 { return loss(layerNorm64(x64, g64, b64, eps)) }
		for name, pair := range map[string][2][]float64{
			"LayerNorm dx": {gradFD(x64, ln), to64(dx)}, "LayerNorm dgamma": {gradFD(g64, ln), to64(dg)},
			"LayerNorm dbeta": {gradFD(b64, ln), to64(db)},
		} {
			assert.InDeltaSlicef(t, pair[0], pair[1], 1e-4, name)
		}

		rrstd := make([]float32, 1)
		RMSNorm(make([]float32, cols), rrstd, x, gamma, 1, cols, eps)
		rdx, rdg := make([]float32, cols), make([]float32, cols)
		RMSNormBackward(rdx, rdg, w, x, rrstd, gamma, 1, cols)
		rn := func() float64 { return loss(rmsNorm64(x64, g64, eps)) }
		assert.InDeltaSlice(t, gradFD(x64, rn), to64(rdx), 1e-4, "RMSNorm dx")
		assert.InDeltaSlice(t, gradFD(g64, rn), to64(rdg), 1e-4, "RMSNorm dgamma")
	})
}

func TestRMSNorm(t *testing.T) {
	const eps = 1e-6
	onEveryPath(t, func(t *testing.T) {
		for _, sh := range rowShapes {
			rows, cols := sh[0], sh[1]
			x := normInputs(uint64(rows*cols)+7, rows, cols)
			gamma := normalSlice(newTestRand(uint64(cols)), cols, 1, 0.5)
			for _, g := range [][]float32{gamma, nil} {
				what := fmt.Sprintf("[%d %d] gamma=%v", rows, cols, g != nil)
				dst, rstd := make([]float32, rows*cols), make([]float32, rows)
				RMSNorm(dst, rstd, x, g, rows, cols, eps)
				if cols == 0 {
					continue
				}
			rowLoop:
				for row := 0; row < rows; row++ {
					xr, yr := x[row*cols:(row+1)*cols], dst[row*cols:(row+1)*cols]
					var ss float64
					for _, v := range xr {
						ss += float64(v) * float64(v)
					}
					rs := 1 / math.Sqrt(ss/float64(cols)+eps)
					if !inDelta(t, rs, float64(rstd[row]), 8*epsF32*rs, "%s row %d rstd", what, row) {
						break
					}
					for j := range xr {
						want := float64(xr[j]) * rs * at(g, j, 1)
						if !inDelta(t, want, float64(yr[j]), 12*epsF32*math.Abs(want)+1e-30, "%s row %d col %d", what, row, j) {
							break rowLoop
						}
					}
				}
				in := cloneF32(x)
				RMSNorm(in, make([]float32, rows), in, g, rows, cols, eps)
				assertSameSlices(t, dst, in, what+" in place")
			}
		}
	})
}

func TestRMSNormBackward(t *testing.T) {
	onEveryPath(t, func(t *testing.T) {
		for _, sh := range rowShapes {
			rows, cols := sh[0], sh[1]
			x := normInputs(uint64(rows*cols)+9, rows, cols)
			r := newTestRand(uint64(rows+cols) + 9)
			gamma := normalSlice(r, cols, 1, 0.5)
			dy := normalSlice(r, rows*cols, 0, 1)
			rstd := make([]float32, rows)
			RMSNorm(make([]float32, rows*cols), rstd, x, gamma, rows, cols, 1e-6)
			dg0 := normalSlice(r, cols, 0, 1)
			n := float64(cols)
			c := (2*math.Sqrt(n) + 8) * epsF32
			for _, g := range [][]float32{gamma, nil} {
				what := fmt.Sprintf("[%d %d] gamma=%v", rows, cols, g != nil)
				dx, dgamma := make([]float32, rows*cols), cloneF32(dg0)
				RMSNormBackward(dx, dgamma, dy, x, rstd, g, rows, cols)
				wantDg := to64(dg0)
				absDg := make([]float64, cols)
				for j := range absDg {
					absDg[j] = math.Abs(wantDg[j])
				}
			rowLoop:
				for row := 0; row < rows; row++ {
					s := float64(rstd[row])
					var dot, dotAbs float64
					for j := 0; j < cols; j++ {
						k := row*cols + j
						gj := float64(dy[k]) * at(g, j, 1)
						dot += gj * float64(x[k])
						dotAbs += math.Abs(gj * float64(x[k]))
						wantDg[j] += float64(dy[k]) * float64(x[k]) * s
						absDg[j] += math.Abs(float64(dy[k]) * float64(x[k]) * s)
					}
					for j := 0; j < cols; j++ {
						k := row*cols + j
						gj := float64(dy[k]) * at(g, j, 1)
						xs := math.Abs(float64(x[k])) * s * s / n
						want := s * (gj - float64(x[k])*s*s*dot/n)
						tol := s * (8*epsF32*(math.Abs(gj)+xs*dotAbs) + c*xs*dotAbs)
						if !inDelta(t, want, float64(dx[k]), tol+1e-30, "%s dx row %d col %d", what, row, j) {
							break rowLoop
						}
					}
				}
				cr := (2*math.Sqrt(float64(rows)) + 8) * epsF32
				for j := 0; j < cols; j++ {
					assert.InDeltaf(t, wantDg[j], float64(dgamma[j]), cr*absDg[j], "%s dgamma[%d]", what, j)
				}
				d := cloneF32(dy)
				RMSNormBackward(d, nil, d, x, rstd, g, rows, cols)
				assertSameSlices(t, dx, d, what+" dx==dy")
			}
		}
	})
}

func TestNormShapePanics(t *testing.T) {
	x, dst := make([]float32, 6), make([]float32, 6)
	one, two, three := make([]float32, 1), make([]float32, 2), make([]float32, 3)
	cases := []struct {
		name  string
		fn    func()
		parts []string
	}{
		{"LayerNorm short x", func() { LayerNorm(dst, two, two, x[:5], nil, nil, 2, 3, 1e-5) }, []string{"kernels.LayerNorm:", "length 5", "[2 3]"}},
		{"LayerNorm short mean", func() { LayerNorm(dst, one, two, x, nil, nil, 2, 3, 1e-5) }, []string{"kernels.LayerNorm:", "length 1", "[2 1]"}},
		{"LayerNorm short gamma", func() { LayerNorm(dst, two, two, x, two, nil, 2, 3, 1e-5) }, []string{"kernels.LayerNorm:", "length 2", "[1 3]"}},
		{"LayerNorm short beta", func() { LayerNorm(dst, two, two, x, three, two, 2, 3, 1e-5) }, []string{"kernels.LayerNorm:", "length 2", "[1 3]"}},
		{"LayerNormBackward short dy", func() { LayerNormBackward(dst, nil, nil, x[:5], x, two, two, nil, 2, 3) }, []string{"kernels.LayerNormBackward:", "length 5"}},
		{"LayerNormBackward short gamma", func() { LayerNormBackward(dst, nil, nil, x, x, two, two, two, 2, 3) }, []string{"kernels.LayerNormBackward:", "length 2", "[1 3]"}},
		{"LayerNormBackward short dgamma", func() { LayerNormBackward(dst, two, nil, x, x, two, two, nil, 2, 3) }, []string{"kernels.LayerNormBackward:", "length 2", "[1 3]"}},
		{"LayerNormBackward short dbeta", func() { LayerNormBackward(dst, nil, two, x, x, two, two, nil, 2, 3) }, []string{"kernels.LayerNormBackward:", "length 2", "[1 3]"}},
		{"RMSNorm short rstd", func() { RMSNorm(dst, one, x, nil, 2, 3, 1e-5) }, []string{"kernels.RMSNorm:", "length 1", "[2 1]"}},
		{"RMSNorm short gamma", func() { RMSNorm(dst, two, x, two, 2, 3, 1e-5) }, []string{"kernels.RMSNorm:", "length 2", "[1 3]"}},
		{"RMSNormBackward short x", func() { RMSNormBackward(dst, nil, x, x[:4], two, nil, 2, 3) }, []string{"kernels.RMSNormBackward:", "length 4"}},
		{"RMSNormBackward short gamma", func() { RMSNormBackward(dst, nil, x, x, two, one, 2, 3) }, []string{"kernels.RMSNormBackward:", "length 1", "[1 3]"}},
		{"RMSNormBackward short dgamma", func() { RMSNormBackward(dst, two, x, x, two, nil, 2, 3) }, []string{"kernels.RMSNormBackward:", "length 2", "[1 3]"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { assertPanicsMentioning(t, c.fn, c.parts...) })
	}
}

func ExampleLayerNorm() {
	x := []float32{1, 2, 3, 4, 10, 10, 10, 10}
	y := make([]float32, 8)
	mean, rstd := make([]float32, 2), make([]float32, 2)
	LayerNorm(y, mean, rstd, x, nil, nil, 2, 4, 1e-5)
	fmt.Printf("%.3f %.3f %.2f\n", y[:4], y[4:], mean)
	// Output: [-1.342 -0.447 0.447 1.342] [0.000 0.000 0.000 0.000] [2.50 10.00]
}

func TestNormOfEmptyRowsDoesNotPanic(t *testing.T) {
	onEveryPath(t, func(t *testing.T) {
		require.NotPanics(t, func() {
			LayerNorm(nil, make([]float32, 3), make([]float32, 3), nil, nil, nil, 3, 0, 1e-5)
			RMSNorm(nil, make([]float32, 3), nil, nil, 3, 0, 1e-5)
			LayerNormBackward(nil, nil, nil, nil, nil, make([]float32, 3), make([]float32, 3), nil, 3, 0)
			RMSNormBackward(nil, nil, nil, nil, make([]float32, 3), nil, 3, 0)
		})
	})
}
