package autolrs

import (
	"math"
	"slices"
)

// nelderMead minimises f from x0 with the downhill simplex method, following
// the rules of SciPy's optimize.fmin (the minimiser the official AutoLRS code
// uses for its loss forecaster): reflection 1, expansion 2, contraction 1/2,
// shrink 1/2; the start simplex moves each coordinate by 5% (or by step[k]
// when step is non-nil, or by 0.00025 when the coordinate is zero); it stops
// when every vertex is within xtol of the best one in every coordinate and
// every function value is within ftol of the best one, or after maxIter
// iterations or maxIter function evaluations (SciPy's default is 200 per
// coordinate). It returns the best vertex and its value.
func nelderMead(f func([]float64) float64, x0, step []float64, xtol, ftol float64, maxIter int) ([]float64, float64) {
	n := len(x0)
	if n == 0 {
		panic("autolrs.nelderMead: empty start point")
	}
	if step != nil && len(step) != n {
		panic("autolrs.nelderMead: step has a different length from the start point")
	}
	sim := make([][]float64, n+1)
	fsim := make([]float64, n+1)
	sim[0] = slices.Clone(x0)
	evals := 0
	eval := func(x []float64) float64 {
		evals++
		v := f(x)
		if math.IsNaN(v) {
			return math.Inf(1)
		}
		return v
	}
	fsim[0] = eval(sim[0])
	for k := range n {
		y := slices.Clone(x0)
		switch {
		case step != nil:
			y[k] += step[k]
		case y[k] != 0:
			y[k] *= 1.05
		default:
			y[k] = 0.00025
		}
		sim[k+1] = y
		fsim[k+1] = eval(y)
	}
	order := make([]int, n+1)
	sortSimplex := func() {
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int {
			switch {
			case fsim[a] < fsim[b]:
				return -1
			case fsim[a] > fsim[b]:
				return 1
			}
			return 0
		})
		s2 := make([][]float64, n+1)
		f2 := make([]float64, n+1)
		for i, j := range order {
			s2[i], f2[i] = sim[j], fsim[j]
		}
		copy(sim, s2)
		copy(fsim, f2)
	}
	sortSimplex()

	xbar := make([]float64, n)
	point := func(t float64) []float64 { // xbar + t*(xbar - worst)
		p := make([]float64, n)
		for k := range n {
			p[k] = xbar[k] + t*(xbar[k]-sim[n][k])
		}
		return p
	}
	for iter := 0; iter < maxIter && evals < maxIter; iter++ {
		if simplexConverged(sim, fsim, xtol, ftol) {
			break
		}
		for k := range n {
			s := 0.0
			for j := range n {
				s += sim[j][k]
			}
			xbar[k] = s / float64(n)
		}
		xr := point(1)
		fxr := eval(xr)
		shrink := false
		switch {
		case fxr < fsim[0]:
			xe := point(2)
			if fxe := eval(xe); fxe < fxr {
				sim[n], fsim[n] = xe, fxe
			} else {
				sim[n], fsim[n] = xr, fxr
			}
		case fxr < fsim[n-1]:
			sim[n], fsim[n] = xr, fxr
		case fxr < fsim[n]:
			xc := point(0.5)
			if fxc := eval(xc); fxc <= fxr {
				sim[n], fsim[n] = xc, fxc
			} else {
				shrink = true
			}
		default:
			xcc := point(-0.5)
			if fxcc := eval(xcc); fxcc < fsim[n] {
				sim[n], fsim[n] = xcc, fxcc
			} else {
				shrink = true
			}
		}
		if shrink {
			for j := 1; j <= n; j++ {
				for k := range n {
					sim[j][k] = sim[0][k] + 0.5*(sim[j][k]-sim[0][k])
				}
				fsim[j] = eval(sim[j])
			}
		}
		sortSimplex()
	}
	return sim[0], fsim[0]
}

// simplexConverged is SciPy's stopping rule: all vertices within xtol of the
// best in every coordinate and all values within ftol of the best value.
func simplexConverged(sim [][]float64, fsim []float64, xtol, ftol float64) bool {
	for j := 1; j < len(sim); j++ {
		for k := range sim[0] {
			if !(math.Abs(sim[j][k]-sim[0][k]) <= xtol) {
				return false
			}
		}
	}
	for j := 1; j < len(fsim); j++ {
		d := math.Abs(fsim[j] - fsim[0])
		if !(d <= ftol) && !(math.IsInf(fsim[j], 0) && fsim[j] == fsim[0]) {
			return false
		}
	}
	return true
}
