package autolrs

import (
	"fmt"
	"math"
	"slices"
)

// Tolerances of the exponential fit (SciPy fmin's xtol and ftol in the
// official code).
const (
	// OfficialTol is the xtol = ftol of the official forecaster's Nelder–Mead search.
	OfficialTol = 1e-5
	// trimFraction is the share of points dropped per smoothing round (training losses).
	trimFraction = 0.03
	// trainingRounds is the number of smoothing rounds for training losses.
	trainingRounds = 10
	// maxFitIter bounds the 1-D Nelder–Mead (SciPy's default 200 per coordinate).
	maxFitIter = 200
	// betaMin and betaMax bound log(-b) so that exp(b·x) stays representable and
	// distinct from a constant; the bounds only matter for degenerate (flat or
	// linear) series.
	betaMin, betaMax = -40.0, 20.0
)

// Curve is the loss model y(x) = A·exp(B·x) + C of the AutoLRS forecaster,
// with B < 0 so that the loss settles at C.
type Curve struct {
	A, B, C float64
}

// At evaluates the curve at x.
func (c Curve) At(x float64) float64 { return c.A*math.Exp(c.B*x) + c.C }

// String formats the curve for logs.
func (c Curve) String() string {
	return fmt.Sprintf("%.6g·exp(%.6g·x)%+.6g", c.A, c.B, c.C)
}

// Forecast fits the AutoLRS loss model to a loss series observed at
// x = 0, 1, …, len(losses)-1, as the official exp_forecast does: smooth the
// series (Smooth), then fit A·exp(B·x)+C to the smoothed values (FitExp with
// OfficialTol). validation selects the rules for a short series of
// validation losses instead of per-step training losses. Evaluate the result
// at the horizon: Forecast(losses, false).At(tau).
//
// It panics if losses has fewer than 3 points.
func Forecast(losses []float64, validation bool) Curve {
	if len(losses) < 3 {
		panic(fmt.Sprintf("autolrs.Forecast: need at least 3 losses, have %d", len(losses)))
	}
	xs := make([]float64, len(losses))
	for i := range xs {
		xs[i] = float64(i)
	}
	return FitExp(xs, Smooth(losses, validation), OfficialTol)
}

// Smooth returns the loss series with its noise and early outliers removed:
// it fits a least-squares quadratic, drops the points farthest from it, and
// repeats (10 rounds dropping round(3%) of the remaining points for training
// losses; 1 round dropping the single farthest point for validation losses),
// dropping only points whose position in the shrinking series is in the
// first half of the original window, then evaluates the quadratic refitted
// on the kept points at every original x = 0 … n-1.
//
// The official code fits SciPy's degree-2 smoothing spline with smoothing
// factor s = n; FITPACK returns exactly the least-squares quadratic whenever
// that quadratic's residual sum of squares is at most s, that is whenever the
// RMS deviation of the losses from it is at most 1, which holds for loss
// curves in practice. A series with larger scatter would get interior knots
// there; here it still gets the quadratic.
//
// It panics if losses has fewer than 3 points.
func Smooth(losses []float64, validation bool) []float64 {
	n := len(losses)
	if n < 3 {
		panic(fmt.Sprintf("autolrs.Smooth: need at least 3 losses, have %d", n))
	}
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = float64(i)
	}
	ys := slices.Clone(losses)
	bound := float64(int(float64(n-1) * 0.5)) // x at the middle of the window
	rounds := trainingRounds
	if validation {
		rounds = 1
	}
	scale := quadScale{mid: float64(n-1) / 2, half: math.Max(float64(n-1)/2, 1)}
	order := make([]int, 0, n)
	dev := make([]float64, 0, n)
	for range rounds {
		q := fitQuadratic(xs, ys, scale)
		dev = dev[:0]
		order = order[:0]
		for i := range xs {
			dev = append(dev, math.Abs(ys[i]-q.at(xs[i])))
			order = append(order, i)
		}
		drop := 1
		if !validation {
			// Python's round (half to even) of 3% of the remaining points.
			drop = int(math.RoundToEven(float64(len(dev)) * trimFraction))
		}
		if drop == 0 || len(xs)-drop < 3 {
			continue
		}
		slices.SortStableFunc(order, func(a, b int) int {
			switch {
			case dev[a] < dev[b]:
				return -1
			case dev[a] > dev[b]:
				return 1
			}
			return 0
		})
		out := make(map[int]bool, drop)
		for _, i := range order[len(order)-drop:] {
			// The official code compares the index in the current (already
			// trimmed) series with the x at the middle of the original window.
			if float64(i) < bound {
				out[i] = true
			}
		}
		if len(out) == 0 {
			continue
		}
		k := 0
		for i := range xs {
			if !out[i] {
				xs[k], ys[k] = xs[i], ys[i]
				k++
			}
		}
		xs, ys = xs[:k], ys[:k]
	}
	q := fitQuadratic(xs, ys, scale)
	sm := make([]float64, n)
	for i := range sm {
		sm[i] = q.at(float64(i))
	}
	return sm
}

// quadScale maps x to t = (x-mid)/half so that the quadratic's normal
// equations stay well conditioned for long windows.
type quadScale struct{ mid, half float64 }

// quadratic is c0 + c1·t + c2·t² in the scaled variable t.
type quadratic struct {
	c     [3]float64
	scale quadScale
}

func (q quadratic) at(x float64) float64 {
	t := (x - q.scale.mid) / q.scale.half
	return q.c[0] + t*(q.c[1]+t*q.c[2])
}

// fitQuadratic returns the least-squares quadratic through (xs, ys), which
// needs at least 3 distinct xs.
func fitQuadratic(xs, ys []float64, s quadScale) quadratic {
	var m [3][4]float64
	for i, x := range xs {
		t := (x - s.mid) / s.half
		p := [3]float64{1, t, t * t}
		for r := range 3 {
			for c := range 3 {
				m[r][c] += p[r] * p[c]
			}
			m[r][3] += p[r] * ys[i]
		}
	}
	// Gaussian elimination with partial pivoting on the 3×3 normal equations.
	for col := range 3 {
		p := col
		for r := col + 1; r < 3; r++ {
			if math.Abs(m[r][col]) > math.Abs(m[p][col]) {
				p = r
			}
		}
		m[col], m[p] = m[p], m[col]
		for r := col + 1; r < 3; r++ {
			f := m[r][col] / m[col][col]
			for c := col; c < 4; c++ {
				m[r][c] -= f * m[col][c]
			}
		}
	}
	var q quadratic
	q.scale = s
	for r := 2; r >= 0; r-- {
		v := m[r][3]
		for c := r + 1; c < 3; c++ {
			v -= m[r][c] * q.c[c]
		}
		q.c[r] = v / m[r][r]
	}
	return q
}

// FitExp fits y ≈ A·exp(B·x) + C with B = -exp(β) < 0 by least squares, as
// the official forecaster does: for a fixed β, A and C are the linear
// least-squares solution, and β is found by the Nelder–Mead method started
// at β = 0 and stopped with xtol = ftol = tol (OfficialTol reproduces the
// official code; a smaller tol fits more tightly). β is kept within
// [-40, 20], which matters only for series that are flat or straight.
//
// It panics if xs and ys differ in length or have fewer than 3 points.
func FitExp(xs, ys []float64, tol float64) Curve {
	if len(xs) != len(ys) {
		panic(fmt.Sprintf("autolrs.FitExp: %d xs but %d ys", len(xs), len(ys)))
	}
	if len(xs) < 3 {
		panic(fmt.Sprintf("autolrs.FitExp: need at least 3 points, have %d", len(xs)))
	}
	e := make([]float64, len(xs))
	obj := func(p []float64) float64 {
		res, _, _ := expLinearFit(xs, ys, clampBeta(p[0]), e)
		return res
	}
	best, _ := nelderMead(obj, []float64{0}, nil, tol, tol, maxFitIter)
	beta := clampBeta(best[0])
	_, a, c := expLinearFit(xs, ys, beta, e)
	return Curve{A: a, B: -math.Exp(beta), C: c}
}

func clampBeta(beta float64) float64 { return math.Min(math.Max(beta, betaMin), betaMax) }

// expLinearFit solves min over (a, c) of Σ (a·exp(-exp(β)·x) + c - y)² and
// returns the residual sum of squares with a and c. It works with centred
// columns, which stays accurate when exp(-exp(β)·x) is nearly constant; if it
// is exactly constant, a = 0 and c is the mean. e is scratch of len(xs).
func expLinearFit(xs, ys []float64, beta float64, e []float64) (res, a, c float64) {
	k := -math.Exp(beta)
	n := float64(len(xs))
	var me, my float64
	for i, x := range xs {
		e[i] = math.Exp(k * x)
		me += e[i]
		my += ys[i]
	}
	me /= n
	my /= n
	var see, sey float64
	for i := range e {
		de := e[i] - me
		see += de * de
		sey += de * (ys[i] - my)
	}
	if see > 0 {
		a = sey / see
	}
	c = my - a*me
	for i := range e {
		r := a*e[i] + c - ys[i]
		res += r * r
	}
	return res, a, c
}
