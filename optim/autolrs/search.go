package autolrs

import (
	"math"
	"math/rand/v2"
	"slices"
)

const (
	// acqGrid is the number of intervals of the grid the acquisition is
	// minimised over before the local refinement (scikit-optimize samples
	// 10 000 points, then runs L-BFGS-B from the best few).
	acqGrid = 10000
	// acqRefine is the number of golden-section steps of the refinement.
	acqRefine = 60
	// sameTol is the distance in u below which two probes count as the same
	// learning rate.
	sameTol = 1e-9
	// maxRepeats bounds how often a proposal that repeats an earlier probe is
	// answered by re-telling the earlier result before the search falls back
	// to the middle of the widest unexplored gap.
	maxRepeats = 10
)

// search is the Bayesian optimisation of one stage over the normalised log
// learning rate u ∈ [0, 1], as the official code configures
// scikit-optimize: the first point is drawn uniformly (log-uniform in the
// learning rate), every later one minimises the lower confidence bound
// μ(u) − κ·σ(u) of a GP fitted to all observations so far.
type search struct {
	kappa float64
	rng   *rand.Rand
	x, y  []float64
}

func newSearch(kappa float64, rng *rand.Rand) *search {
	return &search{kappa: kappa, rng: rng}
}

// tell records the objective value y observed at u.
func (s *search) tell(u, y float64) {
	s.x = append(s.x, u)
	s.y = append(s.y, y)
}

// ask proposes the next point: uniform for the first one, the minimiser of
// the lower confidence bound afterwards.
func (s *search) ask() (float64, error) {
	if len(s.x) == 0 {
		return s.rng.Float64(), nil
	}
	g, err := fitGP(s.x, s.y)
	if err != nil {
		return 0, err
	}
	lcb := func(u float64) float64 {
		m, sd := g.predict(u)
		return m - s.kappa*sd
	}
	bi, bv := 0, math.Inf(1)
	for i := 0; i <= acqGrid; i++ {
		if v := lcb(float64(i) / acqGrid); v < bv {
			bi, bv = i, v
		}
	}
	best := float64(bi) / acqGrid
	a := math.Max(0, float64(bi-1)/acqGrid)
	b := math.Min(1, float64(bi+1)/acqGrid)
	if u, v := goldenMin(lcb, a, b, acqRefine); v < bv {
		best = u
	}
	return best, nil
}

// next is ask with the official guard against repeats: while the proposal is
// a learning rate already probed in this stage, the earlier result is told
// again and the search asked again. If the search keeps repeating itself it
// returns the middle of the widest gap between the probes and the ends of
// the interval.
func (s *search) next() (float64, error) {
	for range maxRepeats {
		u, err := s.ask()
		if err != nil {
			return 0, err
		}
		i := s.indexOf(u)
		if i < 0 {
			return u, nil
		}
		s.tell(s.x[i], s.y[i])
	}
	return widestGapMiddle(s.x), nil
}

// indexOf returns the index of an earlier observation at u, or -1.
func (s *search) indexOf(u float64) int {
	for i, x := range s.x {
		if math.Abs(x-u) <= sameTol {
			return i
		}
	}
	return -1
}

// widestGapMiddle returns the middle of the widest gap between consecutive
// points of {0, xs…, 1} (the first such gap on ties).
func widestGapMiddle(xs []float64) float64 {
	pts := append([]float64{0, 1}, xs...)
	slices.Sort(pts)
	mid, w := 0.5, -1.0
	for i := 1; i < len(pts); i++ {
		if g := pts[i] - pts[i-1]; g > w {
			mid, w = pts[i-1]+g/2, g
		}
	}
	return mid
}

// goldenMin minimises f on [a, b] by golden-section search and returns the
// best point seen with its value.
func goldenMin(f func(float64) float64, a, b float64, iters int) (float64, float64) {
	const r = 0.3819660112501051 // (3 - √5) / 2
	c, d := a+r*(b-a), b-r*(b-a)
	fc, fd := f(c), f(d)
	for range iters {
		if fc < fd {
			b, d, fd = d, c, fc
			c = a + r*(b-a)
			fc = f(c)
		} else {
			a, c, fc = c, d, fd
			d = b - r*(b-a)
			fd = f(d)
		}
	}
	if fc < fd {
		return c, fc
	}
	return d, fd
}
