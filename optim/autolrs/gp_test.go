package autolrs

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGPPosteriorMatchesClosedForm(t *testing.T) {
	x := []float64{0.1, 0.5, 0.8}
	y := []float64{1.0, 0.3, 0.7}
	p := gpParams{Amp: 1.3, Length: 0.4, Noise: 0.05}
	g, err := newGP(x, y, p)
	require.NoError(t, err)

	// Closed form, written out independently: standardise y, build K from
	// the Matérn-5/2 formula, invert it by cofactors.
	mean := (1.0 + 0.3 + 0.7) / 3
	sd := math.Sqrt((math.Pow(1-mean, 2) + math.Pow(0.3-mean, 2) + math.Pow(0.7-mean, 2)) / 3)
	var z [3]float64
	for i := range z {
		z[i] = (y[i] - mean) / sd
	}
	kern := func(a, b float64) float64 {
		r := math.Abs(a-b) / p.Length
		return p.Amp * (1 + math.Sqrt(5)*r + 5*r*r/3) * math.Exp(-math.Sqrt(5)*r)
	}
	var K [3][3]float64
	for i := range 3 {
		for j := range 3 {
			K[i][j] = kern(x[i], x[j])
		}
		K[i][i] += p.Noise + gpJitter
	}
	Ki := inv3(K)
	for _, u := range []float64{0, 0.1, 0.3, 0.5, 0.65, 1} {
		var ks [3]float64
		for i := range 3 {
			ks[i] = kern(u, x[i])
		}
		m, v := 0.0, kern(u, u)
		for i := range 3 {
			for j := range 3 {
				m += ks[i] * Ki[i][j] * z[j]
				v -= ks[i] * Ki[i][j] * ks[j]
			}
		}
		wantMean, wantStd := mean+sd*m, sd*math.Sqrt(v)
		gotMean, gotStd := g.predict(u)
		assert.InDelta(t, wantMean, gotMean, 1e-12, "mean at u=%g", u)
		assert.InDelta(t, wantStd, gotStd, 1e-12, "std at u=%g", u)
	}

	// Log marginal likelihood: -½ zᵀK⁻¹z - ½ log det K - (n/2) log 2π.
	det := K[0][0]*(K[1][1]*K[2][2]-K[1][2]*K[2][1]) -
		K[0][1]*(K[1][0]*K[2][2]-K[1][2]*K[2][0]) +
		K[0][2]*(K[1][0]*K[2][1]-K[1][1]*K[2][0])
	quad := 0.0
	for i := range 3 {
		for j := range 3 {
			quad += z[i] * Ki[i][j] * z[j]
		}
	}
	wantLML := -0.5*quad - 0.5*math.Log(det) - 1.5*math.Log(2*math.Pi)
	assert.InDelta(t, wantLML, g.lml, 1e-12)
	assert.InDelta(t, wantLML, logMarginalLikelihood(x, y, p), 1e-12)
}

func TestGPFitMaximisesMarginalLikelihood(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	x := []float64{0.05, 0.2, 0.33, 0.5, 0.61, 0.77, 0.9, 1}
	y := make([]float64, len(x))
	for i, u := range x {
		y[i] = 1 + (u-0.4)*(u-0.4)*3 + 0.05*rng.NormFloat64()
	}
	g, err := fitGP(x, y)
	require.NoError(t, err)
	assert.InDelta(t, g.lml, logMarginalLikelihood(x, y, g.p), 1e-12)

	// Better than scikit-optimize's starting point …
	start := logMarginalLikelihood(x, y, gpParams{Amp: 1, Length: 1, Noise: 1})
	assert.Greater(t, g.lml, start+1, "the fit should improve the likelihood clearly")
	// … and than every one of many random hyperparameters within the bounds.
	logU := func(lo, hi float64) float64 {
		return math.Exp(math.Log(lo) + rng.Float64()*(math.Log(hi)-math.Log(lo)))
	}
	for range 2000 {
		p := gpParams{Amp: logU(ampMin, ampMax), Length: logU(lengthMin, lengthMax), Noise: logU(noiseMin, noiseMax)}
		require.LessOrEqual(t, logMarginalLikelihood(x, y, p), g.lml+1e-9, "params %+v", p)
	}
	// The fitted parameters respect the bounds.
	assert.True(t, g.p.Amp >= ampMin && g.p.Amp <= ampMax)
	assert.True(t, g.p.Length >= lengthMin && g.p.Length <= lengthMax)
	assert.True(t, g.p.Noise >= noiseMin && g.p.Noise <= noiseMax)
}

func TestSearchExploresWithLargeKappa(t *testing.T) {
	// With κ = 1e6 the proposal is where the posterior is least certain:
	// after one observation (which says nothing about the length scale, so
	// it keeps its starting value 1), the far end of the interval.
	s := newSearch(DefaultKappa, rand.New(rand.NewPCG(1, 1)))
	s.tell(0.3, 2.0)
	u, err := s.ask()
	require.NoError(t, err)
	assert.Equal(t, 1.0, u)
	s.tell(1, 2.5)
	// From then on, never a repeat.
	for range 6 {
		u, err = s.next()
		require.NoError(t, err)
		assert.Equal(t, -1, s.indexOf(u), "repeat of an earlier probe at %g", u)
		s.tell(u, 3+math.Sin(7*u))
	}
}

func TestSearchMinimisesLowerConfidenceBound(t *testing.T) {
	// The proposal must be at least as good as every point of an
	// independent fine grid (offset from the search grid), for several κ.
	x := []float64{0.1, 0.4, 0.45, 0.7, 0.95}
	y := []float64{3, 1.2, 1.1, 2, 4}
	for _, kappa := range []float64{1e-6, 0.5, 2, DefaultKappa} {
		s := newSearch(kappa, rand.New(rand.NewPCG(1, 1)))
		for i := range x {
			s.tell(x[i], y[i])
		}
		u, err := s.ask()
		require.NoError(t, err)
		g, err := fitGP(x, y)
		require.NoError(t, err)
		lcb := func(u float64) float64 {
			m, sd := g.predict(u)
			return m - kappa*sd
		}
		got := lcb(u)
		for i := range 30001 {
			v := (float64(i) + 0.37) / 30001
			require.LessOrEqual(t, got, lcb(v)+1e-9*math.Max(1, math.Abs(got)), "κ=%g: u=%g beats proposal %g", kappa, v, u)
		}
	}
}

func TestSearchFirstPointIsSeeded(t *testing.T) {
	a, _ := newSearch(1, rand.New(rand.NewPCG(9, 9))).ask()
	b, _ := newSearch(1, rand.New(rand.NewPCG(9, 9))).ask()
	c, _ := newSearch(1, rand.New(rand.NewPCG(10, 9))).ask()
	assert.Equal(t, a, b)
	assert.NotEqual(t, a, c)
	assert.True(t, a >= 0 && a < 1)
}

func TestWidestGapMiddle(t *testing.T) {
	assert.Equal(t, 0.5, widestGapMiddle(nil))
	assert.InDelta(t, 0.65, widestGapMiddle([]float64{0.3, 1, 0.3}), 1e-15)
	assert.InDelta(t, 0.125, widestGapMiddle([]float64{0.25, 0.5, 0.75}), 1e-15)
}

func TestNelderMeadRosenbrock(t *testing.T) {
	f := func(p []float64) float64 {
		return 100*math.Pow(p[1]-p[0]*p[0], 2) + math.Pow(1-p[0], 2)
	}
	x, v := nelderMead(f, []float64{-1.2, 1}, nil, 1e-10, 1e-14, 2000)
	assert.InDelta(t, 1, x[0], 1e-6)
	assert.InDelta(t, 1, x[1], 1e-6)
	assert.Less(t, v, 1e-12)
}

// BenchmarkSearchAsk measures the controller's overhead per probe late in a
// stage: fitting the GP to 9 observations and minimising the acquisition.
func BenchmarkSearchAsk(b *testing.B) {
	s := newSearch(DefaultKappa, rand.New(rand.NewPCG(1, 1)))
	for i := range 9 {
		u := float64(i) / 8
		s.tell(u, 1+(u-0.3)*(u-0.3))
	}
	for b.Loop() {
		if _, err := s.ask(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkForecast measures one forecast of a 100-step probe.
func BenchmarkForecast(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	ys := make([]float64, 100)
	for i := range ys {
		ys[i] = 2*math.Exp(-0.01*float64(i)) + 1.5 + 0.01*rng.NormFloat64()
	}
	for b.Loop() {
		Forecast(ys, false)
	}
}
