package autolrs

import (
	"fmt"
	"math"
	"slices"
)

// Gaussian-process surrogate of the AutoLRS search: the model scikit-optimize
// builds for base_estimator "GP" on one real dimension. Inputs are the
// normalised log learning rate u ∈ [0, 1]; the kernel is
// amp · Matérn-5/2(|u-u'| / length) + noise · δ(u, u'); the targets are
// standardised; (amp, length, noise) maximise the log marginal likelihood
// within scikit-optimize's bounds. Predictions are of the latent function
// (the noise term is left out of the predictive variance), as in
// scikit-optimize.

// Hyperparameter bounds and starting point of scikit-optimize's GP.
const (
	ampMin, ampMax       = 0.01, 1000.0
	lengthMin, lengthMax = 0.01, 100.0
	noiseMin, noiseMax   = 1e-5, 1e5
	// gpJitter is added to the diagonal for numerical safety (scikit-learn's alpha).
	gpJitter = 1e-10
)

// gpParams are the kernel hyperparameters.
type gpParams struct {
	Amp    float64 // signal variance C of the Matérn term
	Length float64 // length scale ℓ (in units of the normalised log-LR)
	Noise  float64 // white-noise variance
}

// matern52 is the Matérn kernel with ν = 5/2 at distance d for length scale l,
// without the amplitude.
func matern52(d, l float64) float64 {
	r := math.Sqrt(5) * math.Abs(d) / l
	return (1 + r + r*r/3) * math.Exp(-r)
}

// gp is a fitted Gaussian process.
type gp struct {
	x      []float64 // inputs
	yMean  float64   // mean of the raw targets
	yScale float64   // standard deviation of the raw targets (1 if they are all equal)
	p      gpParams
	chol   []float64 // lower Cholesky factor of K + noise·I, row-major n×n
	alpha  []float64 // (K + noise·I)⁻¹ · standardised y
	lml    float64   // log marginal likelihood of the standardised targets
	work   []float64 // scratch of len(x)
}

// standardise returns (y - mean) / std with the mean and population standard
// deviation; a constant y gets std 1.
func standardise(y []float64) (z []float64, mean, std float64) {
	n := float64(len(y))
	for _, v := range y {
		mean += v
	}
	mean /= n
	for _, v := range y {
		std += (v - mean) * (v - mean)
	}
	std = math.Sqrt(std / n)
	if !(std > 0) || math.IsInf(std, 0) {
		std = 1
	}
	z = make([]float64, len(y))
	for i, v := range y {
		z[i] = (v - mean) / std
	}
	return z, mean, std
}

// newGP conditions a GP with hyperparameters p on (x, y). It returns an error
// if the kernel matrix is not numerically positive definite.
func newGP(x, y []float64, p gpParams) (*gp, error) {
	if len(x) != len(y) || len(x) == 0 {
		panic(fmt.Sprintf("autolrs.newGP: need equal, non-zero numbers of inputs and targets, have %d and %d", len(x), len(y)))
	}
	z, mean, std := standardise(y)
	g := &gp{x: append([]float64(nil), x...), yMean: mean, yScale: std, p: p, work: make([]float64, len(x))}
	var err error
	g.chol, g.alpha, g.lml, err = factor(x, z, p)
	if err != nil {
		return nil, err
	}
	return g, nil
}

// factor builds K + noise·I for inputs x, factors it and returns the factor,
// α = K⁻¹z and the log marginal likelihood of z.
func factor(x, z []float64, p gpParams) (chol, alpha []float64, lml float64, err error) {
	n := len(x)
	k := make([]float64, n*n)
	for i := range n {
		for j := 0; j <= i; j++ {
			v := p.Amp * matern52(x[i]-x[j], p.Length)
			k[i*n+j], k[j*n+i] = v, v
		}
		k[i*n+i] += p.Noise + gpJitter
	}
	if err := cholesky(k, n); err != nil {
		return nil, nil, math.Inf(-1), err
	}
	alpha = make([]float64, n)
	copy(alpha, z)
	solveLower(k, n, alpha)
	// lml = -½ zᵀα - Σ log L_ii - n/2 log 2π, with ½ zᵀα = ½ |L⁻¹z|².
	lml = 0
	for i := range n {
		lml -= 0.5*alpha[i]*alpha[i] + math.Log(k[i*n+i])
	}
	lml -= 0.5 * float64(n) * math.Log(2*math.Pi)
	solveUpper(k, n, alpha)
	return k, alpha, lml, nil
}

// cholesky overwrites the lower triangle of the symmetric n×n matrix a with
// its Cholesky factor L (a = L·Lᵀ) and zeroes the strict upper triangle.
func cholesky(a []float64, n int) error {
	for j := range n {
		d := a[j*n+j]
		for k := range j {
			d -= a[j*n+k] * a[j*n+k]
		}
		if !(d > 0) {
			return fmt.Errorf("autolrs: kernel matrix is not positive definite (pivot %d is %g)", j, d)
		}
		d = math.Sqrt(d)
		a[j*n+j] = d
		for i := j + 1; i < n; i++ {
			s := a[i*n+j]
			for k := range j {
				s -= a[i*n+k] * a[j*n+k]
			}
			a[i*n+j] = s / d
		}
		for i := j + 1; i < n; i++ {
			a[j*n+i] = 0
		}
	}
	return nil
}

// solveLower overwrites b with L⁻¹b for the lower-triangular factor l.
func solveLower(l []float64, n int, b []float64) {
	for i := range n {
		s := b[i]
		for k := range i {
			s -= l[i*n+k] * b[k]
		}
		b[i] = s / l[i*n+i]
	}
}

// solveUpper overwrites b with L⁻ᵀb for the lower-triangular factor l.
func solveUpper(l []float64, n int, b []float64) {
	for i := n - 1; i >= 0; i-- {
		s := b[i]
		for k := i + 1; k < n; k++ {
			s -= l[k*n+i] * b[k]
		}
		b[i] = s / l[i*n+i]
	}
}

// predict returns the posterior mean and standard deviation of the latent
// function at u, in the units of the raw targets.
func (g *gp) predict(u float64) (mean, std float64) {
	n := len(g.x)
	ks := g.work
	m := 0.0
	for i, xi := range g.x {
		ks[i] = g.p.Amp * matern52(u-xi, g.p.Length)
		m += ks[i] * g.alpha[i]
	}
	solveLower(g.chol, n, ks)
	v := g.p.Amp
	for _, w := range ks {
		v -= w * w
	}
	if v < 0 {
		v = 0
	}
	return g.yMean + g.yScale*m, g.yScale * math.Sqrt(v)
}

// logMarginalLikelihood returns the log marginal likelihood of the
// standardised targets y at inputs x under hyperparameters p (-Inf if the
// kernel matrix is not positive definite).
func logMarginalLikelihood(x, y []float64, p gpParams) float64 {
	z, _, _ := standardise(y)
	_, _, lml, err := factor(x, z, p)
	if err != nil {
		return math.Inf(-1)
	}
	return lml
}

// fitGP chooses the hyperparameters that maximise the log marginal
// likelihood within scikit-optimize's bounds and conditions the GP on
// (x, y). The search is deterministic: a grid over the log-hyperparameters
// (amplitude by decades, length scale by half-decades, noise by two decades),
// then Nelder–Mead in log space from the best grid point and from
// scikit-optimize's starting point (1, 1, 1); the better result wins.
//
// When all targets are equal (say, every probe so far diverged) the
// likelihood can only be raised by making all inputs look alike, which
// leaves no uncertainty to explore. The GP then takes unit amplitude and
// length scale and the smallest noise (equal values are consistent with no
// noise at all), so that the search goes on filling the largest gaps.
func fitGP(x, y []float64) (*gp, error) {
	z, _, _ := standardise(y)
	if !slices.ContainsFunc(z, func(v float64) bool { return v != 0 }) {
		return newGP(x, y, gpParams{Amp: 1, Length: 1, Noise: noiseMin})
	}
	lo := []float64{math.Log(ampMin), math.Log(lengthMin), math.Log(noiseMin)}
	clamp := func(t []float64) gpParams {
		c := func(i int, min, max float64) float64 { return math.Min(math.Max(math.Exp(t[i]), min), max) }
		return gpParams{Amp: c(0, ampMin, ampMax), Length: c(1, lengthMin, lengthMax), Noise: c(2, noiseMin, noiseMax)}
	}
	negLML := func(t []float64) float64 {
		_, _, lml, err := factor(x, z, clamp(t))
		if err != nil {
			return math.Inf(1)
		}
		return -lml
	}
	// Ties go to the point nearer the start (1, 1, 1), so that a
	// hyperparameter the data say nothing about (the length scale, with one
	// observation) keeps its starting value, as in a gradient-based fit.
	dist := func(t []float64) float64 { return t[0]*t[0] + t[1]*t[1] + t[2]*t[2] }
	ln10 := math.Log(10)
	best := []float64{0, 0, 0}
	bestVal := negLML(best)
	for ia := 0; ia <= 5; ia++ { // 0.01 … 1000
		for il := 0; il <= 8; il++ { // 0.01 … 100
			for in := 0; in <= 5; in++ { // 1e-5 … 1e5
				t := []float64{lo[0] + float64(ia)*ln10, lo[1] + float64(il)*ln10/2, lo[2] + float64(in)*2*ln10}
				v := negLML(t)
				tie := math.Abs(v-bestVal) <= 1e-12*math.Max(1, math.Abs(bestVal))
				if (v < bestVal && !tie) || (tie && dist(t) < dist(best)) {
					best, bestVal = t, v
				}
			}
		}
	}
	step := []float64{0.5, 0.5, 0.5}
	starts := [][]float64{best, {0, 0, 0}}
	var opt []float64
	optVal := math.Inf(1)
	for _, s := range starts {
		t, v := nelderMead(negLML, s, step, 1e-4, 1e-9, 600)
		if v < optVal {
			opt, optVal = t, v
		}
	}
	return newGP(x, y, clamp(opt))
}
