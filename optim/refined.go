package optim

import (
	"fmt"
	"math"
	"slices"
	"sort"
)

// Refined is the schedule of "When, Why and How Much? Adaptive Learning Rate
// Scheduling by Refinement" (Defazio, Cutkosky, Mehta, Mishchenko), computed
// from the per-step gradient norms G_1..G_n of a previous run of the same
// problem, as the authors' find_closed_form_schedule does:
//
//	w_t = G_t^(−power),   η_t ∝ w_t · Σ_{s>t} w_s,   η_n = 0,
//
// normalised so that its largest factor is 1. Power 2 with ℓ2 norms suits
// SGD-type optimizers, power 1 with ℓ1 norms Adam- and sign-type ones. Large
// early norms make the schedule warm up by itself, and it anneals to 0 at the
// last step. Constant norms give the linear decay (n−1−t)/(n−1).
type Refined struct {
	factors []float64 // the schedule at its own resolution; the last is 0
	total   int       // steps of the run it is used for
}

// RefinedConfig holds the settings of NewRefined.
type RefinedConfig struct {
	// Power is the exponent of the weights G^(−Power): 2 for SGD-type
	// optimizers (ℓ2 norms), 1 for Adam- and sign-type ones (ℓ1 norms)
	// (default 1).
	Power float64
	// Total is the number of steps of the run the schedule is for; the
	// schedule is stretched to it by linear interpolation (default: the
	// number of norms).
	Total int
	// Smooth median-filters the norms first, as the authors' visual.py
	// does: the series is resampled to at least refineSamples points, filtered
	// with a window of a tenth of that (reflected at the end), and the
	// schedule is computed on refineSamples points.
	Smooth bool
}

// refineSamples is the resolution of a smoothed refined schedule (nvals in
// the reference).
const refineSamples = 10000

// NewRefined returns the refined schedule for the gradient norms of a
// previous run, one per step.
func NewRefined(norms []float64, cfg RefinedConfig) (*Refined, error) {
	if len(norms) < 2 {
		return nil, fmt.Errorf("optim: refined schedule needs the gradient norms of at least 2 steps, have %d", len(norms))
	}
	for i, g := range norms {
		if !finite(g) || g <= 0 {
			return nil, fmt.Errorf("optim: refined schedule: gradient norm %v at step %d must be positive and finite", g, i)
		}
	}
	power := orDefault(cfg.Power, 1)
	if !finite(power) || power < 0 {
		return nil, fmt.Errorf("optim: refined schedule: power %v must be positive and finite (0 takes the default 1)", cfg.Power)
	}
	total := cfg.Total
	if total == 0 {
		total = len(norms)
	}
	if total < 2 {
		return nil, fmt.Errorf("optim: refined schedule: total steps %d must be at least 2", total)
	}
	g := norms
	if cfg.Smooth {
		g = smoothNorms(norms)
	}
	_, factors := refine(g, power)
	return &Refined{factors: factors, total: total}, nil
}

// refine returns the reference's closed-form schedule for norms g with
// weights g^(−power), raw and normalised to a maximum of 1.
func refine(g []float64, power float64) (raw, normalised []float64) {
	n := len(g)
	w := make([]float64, n)
	for i, x := range g {
		w[i] = math.Pow(x, -power)
	}
	tail := make([]float64, n+1) // tail[t] = Σ_{s≥t} w_s, summed from the end
	for t := n - 1; t >= 0; t-- {
		tail[t] = tail[t+1] + w[t]
	}
	raw = make([]float64, n)
	unscaled := make([]float64, n)
	peak := 0.0
	for t := 0; t < n-1; t++ {
		unscaled[t] = w[t] * tail[t+1]
		raw[t] = unscaled[t] / tail[0]
		peak = max(peak, unscaled[t])
	}
	normalised = make([]float64, n)
	for t := range unscaled {
		normalised[t] = unscaled[t] / peak
	}
	return raw, normalised
}

// Factor returns the multiplier at step: 0 at the last step (total−1) and
// after it.
func (r *Refined) Factor(step int) float64 {
	checkStep(step)
	n := len(r.factors)
	if step >= r.total-1 {
		return 0
	}
	if r.total == n {
		return r.factors[step]
	}
	return interpAt(r.factors, float64(step)*float64(n-1)/float64(r.total-1))
}

// Factors returns the schedule at its own resolution (one factor per norm,
// or refineSamples when smoothed).
func (r *Refined) Factors() []float64 { return slices.Clone(r.factors) }

// interpAt returns f at fractional index x in [0, len(f)−1], linearly
// interpolated.
func interpAt(f []float64, x float64) float64 {
	i := int(x)
	if i >= len(f)-1 {
		return f[len(f)-1]
	}
	frac := x - float64(i)
	return f[i] + frac*(f[i+1]-f[i])
}

// resample returns n points of f, spread evenly from its first to its last
// element and linearly interpolated (numpy's interp on two linspaces).
func resample(f []float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = interpAt(f, float64(i)*float64(len(f)-1)/float64(n-1))
	}
	return out
}

// smoothNorms smooths gradient norms as the reference's visual.py does:
// resample to refineSamples points if there are fewer, apply a median
// filter of odd width about a tenth of refineSamples to the series
// reflected at its end (scipy's median_filter with mode "nearest" on
// numpy's reflect padding of twice the width), and resample the result to
// refineSamples points.
func smoothNorms(norms []float64) []float64 {
	g := norms
	if len(g) < refineSamples {
		g = resample(g, refineSamples)
	}
	width := 2*(int(0.1*refineSamples)/2) + 1
	pad := 2 * width
	padded := make([]float64, len(g), len(g)+pad)
	copy(padded, g)
	for k := 1; k <= pad; k++ {
		padded = append(padded, g[reflectIndex(len(g)-1+k, len(g))])
	}
	filtered := medianFilter(padded, width)[:len(g)]
	return resample(filtered, refineSamples)
}

// reflectIndex maps an index past the end of a series of length n to the
// element numpy's "reflect" padding puts there (mirrored, edge not repeated).
func reflectIndex(i, n int) int {
	period := 2 * (n - 1)
	i %= period
	if i >= n {
		i = period - i
	}
	return i
}

// medianFilter returns the running median of x over windows of odd width
// centred on each element, with x extended by its edge values ("nearest").
func medianFilter(x []float64, width int) []float64 {
	h := width / 2
	at := func(i int) float64 { return x[min(max(i, 0), len(x)-1)] }
	win := make([]float64, width)
	for k := range win {
		win[k] = at(k - h)
	}
	sort.Float64s(win)
	out := make([]float64, len(x))
	for i := range x {
		out[i] = win[h]
		if i == len(x)-1 {
			break
		}
		// Slide: drop at(i−h), add at(i+h+1).
		old := at(i - h)
		k := sort.SearchFloat64s(win, old)
		copy(win[k:], win[k+1:])
		v := at(i + h + 1)
		k = sort.SearchFloat64s(win[:width-1], v)
		copy(win[k+1:], win[k:width-1])
		win[k] = v
	}
	return out
}
