package autolrs

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// g12 is the series of golden value G12: y = 2·exp(-0.01x) + 1.5, x = 0 … 99.
func g12() (xs, ys []float64) {
	xs = make([]float64, 100)
	ys = make([]float64, 100)
	for i := range xs {
		xs[i] = float64(i)
		ys[i] = 2*math.Exp(-0.01*xs[i]) + 1.5
	}
	return xs, ys
}

func TestFitExpRecoversExactCurve(t *testing.T) {
	xs, ys := g12()
	// A tight 1-D search recovers the parameters to 1e-6 (spec §6.5-1).
	c := FitExp(xs, ys, 1e-12)
	assert.InDelta(t, 2, c.A, 1e-6)
	assert.InDelta(t, -0.01, c.B, 1e-6)
	assert.InDelta(t, 1.5, c.C, 1e-6)
	assert.InDelta(t, 1.50009079986, c.At(1000), 1e-9) // G12
	// The official tolerances give 1e-4.
	c = FitExp(xs, ys, OfficialTol)
	assert.InDelta(t, 2, c.A, 1e-4)
	assert.InDelta(t, -0.01, c.B, 1e-4)
	assert.InDelta(t, 1.5, c.C, 1e-4)
}

func TestForecastGoldenG12(t *testing.T) {
	_, ys := g12()
	// The whole pipeline is biased on an exact exponential (the quadratic
	// smoother cannot follow its curvature); G12 pins the biased values.
	// The golden script uses a tight golden-section search, so with the
	// official Nelder–Mead tolerances agreement is to about 1e-4 …
	c := Forecast(ys, false)
	assert.InDelta(t, 2.09166160452, c.A, 1e-4)
	assert.InDelta(t, -0.00904024007845, c.B, 1e-6)
	assert.InDelta(t, 1.38435685136, c.C, 1e-4)
	assert.InDelta(t, 1.38460480189, c.At(1000), 1e-4)
	// … and with a tight search to the rounding of the golden script's
	// normal-equation quadratic fit.
	xs, _ := g12()
	c = FitExp(xs, Smooth(ys, false), 1e-12)
	assert.InDelta(t, 2.09166160452, c.A, 1e-7)
	assert.InDelta(t, -0.00904024007845, c.B, 1e-9)
	assert.InDelta(t, 1.38435685136, c.C, 1e-7)
	assert.InDelta(t, 1.38460480189, c.At(1000), 1e-7)
}

// inv3 inverts a 3×3 matrix by cofactors.
func inv3(m [3][3]float64) [3][3]float64 {
	det := m[0][0]*(m[1][1]*m[2][2]-m[1][2]*m[2][1]) -
		m[0][1]*(m[1][0]*m[2][2]-m[1][2]*m[2][0]) +
		m[0][2]*(m[1][0]*m[2][1]-m[1][1]*m[2][0])
	var r [3][3]float64
	for i := range 3 {
		for j := range 3 {
			// cofactor of m[j][i] (transposed for the adjugate)
			a, b := (j+1)%3, (j+2)%3
			c, d := (i+1)%3, (i+2)%3
			r[i][j] = (m[a][c]*m[b][d] - m[a][d]*m[b][c]) / det
		}
	}
	return r
}

func TestFitExpNoisy(t *testing.T) {
	// y = a·exp(bx) + c + N(0, σ²) over 300 steps. The least-squares
	// estimate has covariance ≈ σ²(JᵀJ)⁻¹ (J the Jacobian at the true
	// parameters), so each parameter must land within 4 standard errors;
	// the standard errors themselves are checked to be small, so the test
	// has teeth.
	const a, b, c, sigma, n = 2.0, -0.01, 1.5, 0.01, 300
	rng := rand.New(rand.NewPCG(7, 11))
	xs := make([]float64, n)
	ys := make([]float64, n)
	var jtj [3][3]float64
	for i := range xs {
		x := float64(i)
		xs[i] = x
		e := math.Exp(b * x)
		ys[i] = a*e + c + sigma*rng.NormFloat64()
		g := [3]float64{e, a * x * e, 1}
		for r := range 3 {
			for s := range 3 {
				jtj[r][s] += g[r] * g[s]
			}
		}
	}
	cov := inv3(jtj)
	se := [3]float64{}
	for i := range 3 {
		se[i] = sigma * math.Sqrt(cov[i][i])
	}
	require.Less(t, se[0], 0.01)
	require.Less(t, se[1], 0.0005)
	require.Less(t, se[2], 0.01)

	fit := FitExp(xs, ys, 1e-10)
	assert.InDelta(t, a, fit.A, 4*se[0])
	assert.InDelta(t, b, fit.B, 4*se[1])
	assert.InDelta(t, c, fit.C, 4*se[2])
}

func TestSmoothDropsEarlyOutliersOnly(t *testing.T) {
	quad := func(x float64) float64 { return 3 - 0.02*x + 0.0001*x*x }
	series := func(n int, spikes map[int]float64) []float64 {
		ys := make([]float64, n)
		for i := range ys {
			ys[i] = quad(float64(i)) + spikes[i]
		}
		return ys
	}
	maxDiff := func(got []float64) float64 {
		d := 0.0
		for i, v := range got {
			d = math.Max(d, math.Abs(v-quad(float64(i))))
		}
		return d
	}
	// Training losses: 3% of 100 = 3 points per round; spikes in the first
	// half are all dropped and the exact quadratic comes back.
	early := series(100, map[int]float64{2: 1.5, 10: -0.8, 30: 2})
	assert.Less(t, maxDiff(Smooth(early, false)), 1e-9)
	// A spike in the second half stays and bends the fit.
	late := series(100, map[int]float64{70: 1.5})
	assert.Greater(t, maxDiff(Smooth(late, false)), 1e-3)

	// Validation losses: one round, the single largest deviation.
	vEarly := series(16, map[int]float64{3: 0.5})
	assert.Less(t, maxDiff(Smooth(vEarly, true)), 1e-9)
	vTwo := series(16, map[int]float64{3: 0.5, 5: 0.4})
	assert.Greater(t, maxDiff(Smooth(vTwo, true)), 1e-3, "only one point is dropped")
	vLate := series(16, map[int]float64{12: 0.5})
	assert.Greater(t, maxDiff(Smooth(vLate, true)), 1e-3)
}

func TestForecastIgnoresEarlySpikes(t *testing.T) {
	// Noisy exponential loss with a few large early spikes: the forecast
	// stays close to that of the same series without spikes.
	rng := rand.New(rand.NewPCG(3, 4))
	clean := make([]float64, 100)
	for i := range clean {
		clean[i] = 2*math.Exp(-0.02*float64(i)) + 1 + 0.01*rng.NormFloat64()
	}
	spiky := append([]float64(nil), clean...)
	spiky[1] += 3
	spiky[7] += 2
	spiky[20] += 4
	want := Forecast(clean, false).At(1000)
	got := Forecast(spiky, false).At(1000)
	assert.InDelta(t, want, got, 0.01)
	// Without trimming the spikes would move the forecast a lot.
	xs := make([]float64, len(spiky))
	for i := range xs {
		xs[i] = float64(i)
	}
	q := fitQuadratic(xs, spiky, quadScale{mid: 49.5, half: 49.5})
	sm := make([]float64, len(spiky))
	for i := range sm {
		sm[i] = q.at(xs[i])
	}
	assert.Greater(t, math.Abs(FitExp(xs, sm, OfficialTol).At(1000)-want), 0.05)
}

func TestFitExpDegenerateSeries(t *testing.T) {
	xs := []float64{0, 1, 2, 3, 4}
	// A constant series is fitted by its constant.
	c := FitExp(xs, []float64{2, 2, 2, 2, 2}, OfficialTol)
	assert.InDelta(t, 2, c.At(100), 1e-12)
	// A straight decreasing line is extrapolated without NaN.
	c = FitExp(xs, []float64{5, 4, 3, 2, 1}, OfficialTol)
	assert.False(t, math.IsNaN(c.At(100)))
	assert.Less(t, c.B, 0.0)
}

func TestForecastPanicsOnShortSeries(t *testing.T) {
	assert.PanicsWithValue(t, "autolrs.Forecast: need at least 3 losses, have 2", func() { Forecast([]float64{1, 2}, false) })
	assert.Panics(t, func() { FitExp([]float64{0, 1, 2}, []float64{1, 2}, OfficialTol) })
}
