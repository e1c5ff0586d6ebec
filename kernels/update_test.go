package kernels

import (
	"fmt"
	"math"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// updateLengths adds lengths that span several parallel blocks.
var updateLengths = append(append([]int(nil), vecLengths...), 3*updateGrain+17)

// adamWCase is an Adam step in float64 hyperparameters, from which both
// the kernel's constants and the float64 reference are made.
type adamWCase struct {
	beta1, beta2, eps, lr, wd float64
	step                      int
	hf                        bool // Hugging Face form: ε on the raw √v, decay after the update
}

// params returns the kernel constants as the optimizers compute them:
// everything in float64, rounded once.
func (c adamWCase) params() AdamWParams {
	bc1, bc2 := 1-math.Pow(c.beta1, float64(c.step)), 1-math.Pow(c.beta2, float64(c.step))
	h := AdamWParams{Beta1: float32(c.beta1), Beta2: float32(c.beta2), OneMinusBeta1: float32(1 - c.beta1), OneMinusBeta2: float32(1 - c.beta2),
		Eps: float32(c.eps), DecayPre: 1, DecayPost: 1}
	if c.hf {
		h.StepSize, h.DenomScale, h.DecayAfter = float32(c.lr*math.Sqrt(bc2)/bc1), 1, float32(c.lr*c.wd)
	} else {
		h.StepSize, h.DenomScale, h.DecayPre = float32(c.lr/bc1), float32(1/math.Sqrt(bc2)), float32(1-c.lr*c.wd)
	}
	return h
}

// adamWCases are PyTorch-style and Hugging Face-style steps, early and late.
var adamWCases = []adamWCase{
	{beta1: 0.9, beta2: 0.999, eps: 1e-8, lr: 1e-3, wd: 0.1, step: 1},
	{beta1: 0.9, beta2: 0.95, eps: 1e-6, lr: 3e-4, wd: 0.01, step: 50, hf: true},
	{beta1: 0.8, beta2: 0.9999, eps: 1e-8, lr: 1e-2, wd: 0.1, step: 7, hf: true},
}

// adamWSettings are the kernel constants of adamWCases.
var adamWSettings = func() []AdamWParams {
	var hs []AdamWParams
	for _, c := range adamWCases {
		hs = append(hs, c.params())
	}
	return hs
}()

// adamWState returns parameters, gradients and moments, with some zero
// gradients and zero second moments (the first step).
func adamWState(seed uint64, n int) (p, g, m, v []float32) {
	r := newTestRand(seed)
	p = normalSlice(r, n, 0, 1)
	g = normalSlice(r, n, 0, 0.1)
	m = normalSlice(r, n, 0, 0.01)
	v = make([]float32, n)
	for i := range v {
		v[i] = float32(r.ExpFloat64() * 1e-3)
		switch i % 11 {
		case 3:
			g[i] = 0
		case 5:
			m[i], v[i] = 0, 0
		case 7:
			g[i], m[i], v[i] = 0, 0, 0
		}
	}
	return p, g, m, v
}

// TestAdamW checks the kernel against the float64 update with the exact
// (float64) betas and weights 1−β: the tolerances are a few roundings of
// each term, so weights rounded from the float32 betas (1.3e-5 relative
// off for β2 = 0.999) fail it.
func TestAdamW(t *testing.T) {
	onEveryPath(t, func(t *testing.T) {
		for ci, c := range adamWCases {
			h := c.params()
			bc1, bc2 := 1-math.Pow(c.beta1, float64(c.step)), 1-math.Pow(c.beta2, float64(c.step))
			for _, n := range updateLengths {
				p0, g, m0, v0 := adamWState(uint64(n+ci), n)
				p, m, v := cloneF32(p0), cloneF32(m0), cloneF32(v0)
				AdamW(p, g, m, v, h)
				b1, b2 := c.beta1, c.beta2
				for i := range p {
					gi := float64(g[i])
					wm := b1*float64(m0[i]) + (1-b1)*gi
					wv := b2*float64(v0[i]) + (1-b2)*gi*gi
					var step, wp, pre float64
					if c.hf {
						pre = float64(p0[i])
						step = c.lr * math.Sqrt(bc2) / bc1 * wm / (math.Sqrt(wv) + c.eps)
						wp = (pre - step) * (1 - c.lr*c.wd)
					} else {
						pre = float64(p0[i]) * (1 - c.lr*c.wd)
						step = c.lr / bc1 * wm / (math.Sqrt(wv)/math.Sqrt(bc2) + c.eps)
						wp = pre - step
					}
					okM := inDelta(t, wm, float64(m[i]), 3*epsF32*(b1*math.Abs(float64(m0[i]))+(1-b1)*math.Abs(gi))+1e-30, "m: case %d n=%d i=%d", ci, n, i)
					okV := inDelta(t, wv, float64(v[i]), 3*epsF32*(b2*float64(v0[i])+(1-b2)*gi*gi)+1e-30, "v: case %d n=%d i=%d", ci, n, i)
					okP := inDelta(t, wp, float64(p[i]), 4*epsF32*(math.Abs(pre)+6*math.Abs(step)), "p: case %d n=%d i=%d", ci, n, i)
					if !okM || !okV || !okP {
						break
					}
				}
			}
		}
	})
}

// The decay after the update subtracts lr·wd·p with the exact amount: with
// nothing else moving p, the result is p·(1 − lr·wd) of float64 lr·wd, to
// within the rounding of the result (half an ulp) and of the small product
// lr·wd·p (under 4·lr·wd ulps). The factor 1 − lr·wd rounded to float32, as
// a multiplication would use it, is off by up to 3e-4 of the decay at
// lr·wd = 1e-4 and misses this bound on a fifth of the elements.
func TestAdamWDecayAfterIsExact(t *testing.T) {
	const n = 4*updateGrain + 5
	onEveryPath(t, func(t *testing.T) {
		for _, decay := range []float64{1e-4, 3e-7, 2.9e-3, 0.1} {
			p0 := normalSlice(newTestRand(40), n, 0, 1)
			p, g, m, v := cloneF32(p0), make([]float32, n), make([]float32, n), make([]float32, n)
			AdamW(p, g, m, v, AdamWParams{Beta1: 0.9, Beta2: 0.999, Eps: 1e-6, StepSize: 1e-3, DenomScale: 1, DecayPre: 1, DecayPost: 1, DecayAfter: float32(decay)})
			worst := 0.0
			for i := range p {
				worst = max(worst, ulpErr(p[i], float64(p0[i])*(1-decay)))
			}
			assert.LessOrEqual(t, worst, 0.5+4*decay, "decay %g", decay)
		}
	})
}

// A zero decay after the update leaves p alone, infinities and the sign of
// zero included.
func TestAdamWNoDecayAfterKeepsSpecialValues(t *testing.T) {
	onEveryPath(t, func(t *testing.T) {
		p := []float32{float32(math.Inf(1)), float32(math.Copysign(0, -1)), float32(math.Inf(-1)), 1, 0, 0, 0, 0, 0}
		want := cloneF32(p)
		g, m, v := make([]float32, len(p)), make([]float32, len(p)), make([]float32, len(p))
		AdamW(p, g, m, v, AdamWParams{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, StepSize: 1e-3, DenomScale: 1, DecayPre: 1, DecayPost: 1})
		assertSameSlices(t, want, p, "p")
	})
}

// lionCase is a Lion step in float64 hyperparameters.
type lionCase struct{ beta1, beta2, lr, wd float64 }

func (c lionCase) params() LionParams {
	return LionParams{LR: float32(c.lr), Beta1: float32(c.beta1), Beta2: float32(c.beta2), Decay: float32(1 - c.lr*c.wd),
		OneMinusBeta1: float32(1 - c.beta1), OneMinusBeta2: float32(1 - c.beta2)}
}

var lionCases = []lionCase{{0.9, 0.99, 1e-4, 0.1}, {0.95, 0.98, 3e-5, 1}}

func TestLion(t *testing.T) {
	onEveryPath(t, func(t *testing.T) {
		for ci, lc := range lionCases {
			h := lc.params()
			for _, n := range updateLengths {
				p0, g, m0, _ := adamWState(uint64(n)+100, n)
				p, m := cloneF32(p0), cloneF32(m0)
				Lion(p, g, m, h)
				b1, b2 := lc.beta1, lc.beta2
				for i := range p {
					gi, mi := float64(g[i]), float64(m0[i])
					c := b1*mi + (1-b1)*gi
					cTol := 3 * epsF32 * (b1*math.Abs(mi) + (1-b1)*math.Abs(gi))
					pre := float64(p0[i]) * float64(h.Decay)
					var okP bool
					switch {
					case c > cTol:
						okP = inDelta(t, pre-lc.lr, float64(p[i]), 4*epsF32*(math.Abs(pre)+lc.lr), "p: case %d n=%d i=%d", ci, n, i)
					case c < -cTol:
						okP = inDelta(t, pre+lc.lr, float64(p[i]), 4*epsF32*(math.Abs(pre)+lc.lr), "p: case %d n=%d i=%d", ci, n, i)
					case c == 0:
						okP = inDelta(t, pre, float64(p[i]), 2*epsF32*math.Abs(pre), "p: case %d n=%d i=%d (sign 0)", ci, n, i)
					default: // too close to 0 to know the sign float32 arithmetic finds
						okP = true
					}
					wm := b2*mi + (1-b2)*gi
					okM := inDelta(t, wm, float64(m[i]), 3*epsF32*(b2*math.Abs(mi)+(1-b2)*math.Abs(gi))+1e-30, "m: case %d n=%d i=%d", ci, n, i)
					if !okP || !okM {
						break
					}
				}
			}
		}
	})
}

// sgdCase is an SGD step in float64 hyperparameters.
type sgdCase struct {
	lr, mu, damp, wd float64
	nesterov, first  bool
}

func (c sgdCase) params() SGDParams {
	return SGDParams{LR: float32(c.lr), Momentum: float32(c.mu), WeightDecay: float32(c.wd),
		Dampening: float32(c.damp), OneMinusDampening: float32(1 - c.damp), Nesterov: c.nesterov, First: c.first}
}

// sgdCases cover every kernel: with and without weight decay; no momentum,
// the first step of the buffer and a later one; plain and Nesterov.
var sgdCases = []sgdCase{
	{lr: 0.1},
	{lr: 0.05, wd: 0.01},
	{lr: 0.1, mu: 0.9, first: true},
	{lr: 0.1, mu: 0.9, damp: 0.5, first: true, wd: 0.1}, // the buffer starts undamped
	{lr: 0.1, mu: 0.9},
	{lr: 0.1, mu: 0.9, damp: 0.1, wd: 0.1},
	{lr: 0.02, mu: 0.8, nesterov: true, first: true},
	{lr: 0.02, mu: 0.8, nesterov: true, first: true, wd: 0.05},
	{lr: 0.02, mu: 0.8, nesterov: true},
	{lr: 0.02, mu: 0.95, nesterov: true, wd: 0.05},
	{lr: 0.3, mu: 0.7, damp: 1}, // full dampening: the gradient never enters after the first step
}

// sgdReference is torch.optim.SGD's step for one element in float64, with
// the size of the terms that went into p and b, for tolerances.
func sgdReference(c sgdCase, p0, g, b0 float64) (p, b, pTerms, bTerms float64) {
	d, dTerms := g+c.wd*p0, math.Abs(g)+c.wd*math.Abs(p0)
	if c.mu != 0 {
		if c.first {
			b, bTerms = d, dTerms
		} else {
			b, bTerms = c.mu*b0+(1-c.damp)*d, c.mu*math.Abs(b0)+(1-c.damp)*dTerms
		}
		if c.nesterov {
			d, dTerms = d+c.mu*b, dTerms+c.mu*bTerms
		} else {
			d, dTerms = b, bTerms
		}
	}
	return p0 - c.lr*d, b, math.Abs(p0) + c.lr*dTerms, bTerms
}

func TestSGD(t *testing.T) {
	onEveryPath(t, func(t *testing.T) {
		for ci, c := range sgdCases {
			for _, n := range updateLengths {
				p0, g, b0, _ := adamWState(uint64(n)+200, n)
				p, b := cloneF32(p0), cloneF32(b0)
				SGD(p, g, b, c.params())
				for i := range p {
					wp, wb, pTerms, bTerms := sgdReference(c, float64(p0[i]), float64(g[i]), float64(b0[i]))
					okP := inDelta(t, wp, float64(p[i]), 4*epsF32*pTerms, "p: case %+v n=%d i=%d", c, n, i)
					okB := true
					if c.mu == 0 {
						okB = assert.Equal(t, b0[i], b[i], "b: case %d n=%d i=%d: no momentum, no buffer", ci, n, i)
					} else {
						okB = inDelta(t, wb, float64(b[i]), 4*epsF32*bTerms, "b: case %+v n=%d i=%d", c, n, i)
					}
					if !okP || !okB {
						break
					}
				}
			}
		}
	})
}

// PyTorch creates the momentum buffer as a copy of the first gradient:
// neither damped nor mixed with what the buffer held.
func TestSGDFirstStepCopiesTheGradient(t *testing.T) {
	onEveryPath(t, func(t *testing.T) {
		for _, nesterov := range []bool{false, true} {
			const n = 37
			p, g, _, _ := adamWState(50, n)
			b := make([]float32, n)
			for i := range b {
				b[i] = float32(math.NaN())
			}
			h := SGDParams{LR: 0.5, Momentum: 0.9, Dampening: 0.5, Nesterov: nesterov, First: true}
			SGD(p, g, b, h)
			assertSameSlices(t, g, b, fmt.Sprintf("buffer (Nesterov %v)", nesterov))
		}
	})
}

// Without momentum the buffer is neither needed nor touched.
func TestSGDWithoutMomentumIgnoresTheBuffer(t *testing.T) {
	onEveryPath(t, func(t *testing.T) {
		p, g, _, _ := adamWState(51, 21)
		q := cloneF32(p)
		b := make([]float32, 3) // any length: it is not used
		SGD(p, g, nil, SGDParams{LR: 0.1, WeightDecay: 0.01})
		SGD(q, g, b, SGDParams{LR: 0.1, WeightDecay: 0.01, Nesterov: true, First: true})
		assertSameSlices(t, p, q, "p")
		assert.Equal(t, []float32{0, 0, 0}, b)
	})
}

// A zero weight 1−β (or 1−dampening) means 1 − the float32 β: the kernels
// give what they give with that weight spelled out.
func TestUpdateZeroWeightMeansOneMinusBeta(t *testing.T) {
	const n = 2*updateGrain + 9
	onEveryPath(t, func(t *testing.T) {
		h := adamWSettings[0]
		h.Beta2 = 0.999
		h.OneMinusBeta1, h.OneMinusBeta2 = 0, 0
		spelled := h
		spelled.OneMinusBeta1, spelled.OneMinusBeta2 = 1-h.Beta1, 1-h.Beta2
		p1, g, m1, v1 := adamWState(60, n)
		p2, m2, v2 := cloneF32(p1), cloneF32(m1), cloneF32(v1)
		AdamW(p1, g, m1, v1, h)
		AdamW(p2, g, m2, v2, spelled)
		assertSameSlices(t, m2, m1, "AdamW m")
		assertSameSlices(t, v2, v1, "AdamW v")
		assertSameSlices(t, p2, p1, "AdamW p")

		lh := LionParams{LR: 1e-4, Beta1: 0.9, Beta2: 0.99, Decay: 1}
		ls := lh
		ls.OneMinusBeta1, ls.OneMinusBeta2 = 1-lh.Beta1, 1-lh.Beta2
		p1, g, m1, _ = adamWState(61, n)
		p2, m2 = cloneF32(p1), cloneF32(m1)
		Lion(p1, g, m1, lh)
		Lion(p2, g, m2, ls)
		assertSameSlices(t, m2, m1, "Lion m")
		assertSameSlices(t, p2, p1, "Lion p")

		sh := SGDParams{LR: 0.1, Momentum: 0.9, Dampening: 0.3}
		ss := sh
		ss.OneMinusDampening = 1 - sh.Dampening
		p1, g, m1, _ = adamWState(62, n)
		p2, m2 = cloneF32(p1), cloneF32(m1)
		SGD(p1, g, m1, sh)
		SGD(p2, g, m2, ss)
		assertSameSlices(t, m2, m1, "SGD b")
		assertSameSlices(t, p2, p1, "SGD p")
	})
	// And the derived weight is what the explicit one fixes: 1−float32(0.999)
	// is not float32(1−0.999).
	assert.NotEqual(t, float32(1-0.999), 1-float32(0.999))
}

// updateRuns are the fused updates, each run on fresh state from a seed; a
// run returns the slices it changed.
var updateRuns = func() []struct {
	name string
	run  func(seed uint64, n int) [][]float32
} {
	type run = struct {
		name string
		run  func(seed uint64, n int) [][]float32
	}
	var runs []run
	for ci, c := range adamWCases {
		h := c.params()
		runs = append(runs, run{fmt.Sprintf("AdamW %d", ci), func(seed uint64, n int) [][]float32 {
			p, g, m, v := adamWState(seed, n)
			AdamW(p, g, m, v, h)
			return [][]float32{p, m, v}
		}})
	}
	for ci, c := range lionCases {
		h := c.params()
		runs = append(runs, run{fmt.Sprintf("Lion %d", ci), func(seed uint64, n int) [][]float32 {
			p, g, m, _ := adamWState(seed, n)
			Lion(p, g, m, h)
			return [][]float32{p, m}
		}})
	}
	for _, c := range sgdCases {
		h := c.params()
		runs = append(runs, run{fmt.Sprintf("SGD %+v", c), func(seed uint64, n int) [][]float32 {
			p, g, b, _ := adamWState(seed, n)
			SGD(p, g, b, h)
			return [][]float32{p, b}
		}})
	}
	return runs
}()

// Every path rounds every operation as the portable one does, in the same
// order, so the results are bitwise the same, tails included.
func TestUpdatePathsAgree(t *testing.T) {
	paths := Available()
	if len(paths) < 2 {
		t.Skip("only one kernel path on this machine")
	}
	prev := Path()
	defer func() { _ = Use(prev) }()
	for _, n := range []int{4*updateGrain + 9, 1, 7, 15, 33} {
		for _, u := range updateRuns {
			results := map[string][][]float32{}
			for _, name := range paths {
				require.NoError(t, Use(name))
				results[name] = u.run(21, n)
			}
			for name, res := range results {
				for k := range res {
					assertSameSlices(t, results["generic"][k], res[k], fmt.Sprintf("%s vs generic: %s n=%d, slice %d", name, u.name, n, k))
				}
			}
		}
	}
}

func TestUpdatesThreadsDoNotChangeResults(t *testing.T) {
	const n = 5*updateGrain + 3
	onEveryPath(t, func(t *testing.T) {
		for _, u := range updateRuns {
			var one, two [][]float32
			withThreads(1, func() { one = u.run(23, n) })
			withThreads(2, func() { two = u.run(23, n) })
			for k := range one {
				assertSameSlices(t, one[k], two[k], fmt.Sprintf("%s slice %d", u.name, k))
			}
		}
	})
}

// A fused update on one thread allocates nothing. (Split over threads it
// draws its job from a sync.Pool, which the race detector empties at random;
// optim's TestStepDoesNotAllocate covers that path.)
func TestUpdatesDoNotAllocate(t *testing.T) {
	onEveryPath(t, func(t *testing.T) {
		for _, n := range []int{100, 2*updateGrain - 1} {
			p, g, m, v := adamWState(70, n)
			for _, h := range adamWSettings {
				assert.Zero(t, testing.AllocsPerRun(5, func() { AdamW(p, g, m, v, h) }), "AdamW n=%d", n)
			}
			for _, c := range lionCases {
				assert.Zero(t, testing.AllocsPerRun(5, func() { Lion(p, g, m, c.params()) }), "Lion n=%d", n)
			}
			for _, c := range sgdCases {
				assert.Zero(t, testing.AllocsPerRun(5, func() { SGD(p, g, m, c.params()) }), "SGD %+v n=%d", c, n)
			}
		}
	})
}

// A path with its own AdamW kernel has its own SGD and norm-backward
// kernels too: they are fields of the path, so copies of a path carry them.
func TestVectorPathsCarryAllKernels(t *testing.T) {
	generic := reflect.ValueOf(adamWGeneric).Pointer()
	for name, p := range impls {
		if reflect.ValueOf(p.adamW).Pointer() != generic {
			assert.NotEqual(t, reflect.ValueOf(sgdGeneric).Pointer(), reflect.ValueOf(p.sgd).Pointer(), "path %s", name)
			assert.NotSame(t, &genericNormBackward, p.normBackward, "path %s", name)
		}
	}
}

func TestUpdateLengthMismatchPanics(t *testing.T) {
	a, b := make([]float32, 4), make([]float32, 3)
	assertPanicsMentioning(t, func() { AdamW(a, a, b, a, adamWSettings[0]) }, "kernels.AdamW:", "length mismatch", "p 4", "m 3")
	assertPanicsMentioning(t, func() { AdamW(a, a, a, b, adamWSettings[0]) }, "kernels.AdamW:", "v 3")
	assertPanicsMentioning(t, func() { Lion(a, b, a, LionParams{}) }, "kernels.Lion:", "length mismatch", "g 3")
	assertPanicsMentioning(t, func() { SGD(a, b, a, SGDParams{}) }, "kernels.SGD:", "length mismatch", "g 3")
	assertPanicsMentioning(t, func() { SGD(a, a, b, SGDParams{Momentum: 0.9}) }, "kernels.SGD:", "length mismatch", "b 3", "momentum 0.9")
	assertPanicsMentioning(t, func() { SGD(a, a, nil, SGDParams{Momentum: 0.9}) }, "kernels.SGD:", "b 0")
}
