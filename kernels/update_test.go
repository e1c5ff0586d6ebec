package kernels

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

// updateLengths adds lengths that span several parallel blocks.
var updateLengths = append(append([]int(nil), vecLengths...), 3*updateGrain+17)

// adamWSettings are PyTorch-style and Hugging Face-style constants at an
// early and a late step.
var adamWSettings = []AdamWParams{
	{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, StepSize: 1e-3 / (1 - 0.9), DenomScale: float32(1 / math.Sqrt(1-0.999)), DecayPre: 1 - 1e-3*0.1, DecayPost: 1},
	{Beta1: 0.9, Beta2: 0.95, Eps: 1e-6, StepSize: 3e-4 * float32(math.Sqrt(1-math.Pow(0.95, 50))/(1-math.Pow(0.9, 50))), DenomScale: 1, DecayPre: 1, DecayPost: 1 - 3e-4*0.01},
}

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

func TestAdamW(t *testing.T) {
	onEveryPath(t, func(t *testing.T) {
		for hi, h := range adamWSettings {
			for _, n := range updateLengths {
				p0, g, m0, v0 := adamWState(uint64(n+hi), n)
				p, m, v := cloneF32(p0), cloneF32(m0), cloneF32(v0)
				AdamW(p, g, m, v, h)
				b1, b2 := float64(h.Beta1), float64(h.Beta2)
				for i := range p {
					gi := float64(g[i])
					wm := b1*float64(m0[i]) + (1-b1)*gi
					wv := b2*float64(v0[i]) + (1-b2)*gi*gi
					den := math.Sqrt(wv)*float64(h.DenomScale) + float64(h.Eps)
					step := float64(h.StepSize) * wm / den
					pre := float64(p0[i]) * float64(h.DecayPre)
					wp := (pre - step) * float64(h.DecayPost)
					// A few roundings of each term, relative to its size (the
					// 1-beta constants are rounded to float32 too).
					okM := inDelta(t, wm, float64(m[i]), 3*epsF32*(b1*math.Abs(float64(m0[i]))+(1-b1)*math.Abs(gi))+1e-30, "m: setting %d n=%d i=%d", hi, n, i)
					okV := inDelta(t, wv, float64(v[i]), 3*epsF32*(b2*float64(v0[i])+(1-b2)*gi*gi)+1e-30, "v: setting %d n=%d i=%d", hi, n, i)
					okP := inDelta(t, wp, float64(p[i]), 4*epsF32*(math.Abs(pre)+6*math.Abs(step)), "p: setting %d n=%d i=%d", hi, n, i)
					if !okM || !okV || !okP {
						break
					}
				}
			}
		}
	})
}

func TestLion(t *testing.T) {
	h := LionParams{LR: 1e-4, Beta1: 0.9, Beta2: 0.99, Decay: 1 - 1e-4*0.1}
	onEveryPath(t, func(t *testing.T) {
		for _, n := range updateLengths {
			p0, g, m0, _ := adamWState(uint64(n)+100, n)
			p, m := cloneF32(p0), cloneF32(m0)
			Lion(p, g, m, h)
			b1, b2 := float64(h.Beta1), float64(h.Beta2)
			for i := range p {
				gi, mi := float64(g[i]), float64(m0[i])
				c := b1*mi + (1-b1)*gi
				cTol := 3 * epsF32 * (b1*math.Abs(mi) + (1-b1)*math.Abs(gi))
				pre := float64(p0[i]) * float64(h.Decay)
				var okP bool
				switch {
				case c > cTol:
					okP = inDelta(t, pre-float64(h.LR), float64(p[i]), 4*epsF32*(math.Abs(pre)+float64(h.LR)), "p: n=%d i=%d", n, i)
				case c < -cTol:
					okP = inDelta(t, pre+float64(h.LR), float64(p[i]), 4*epsF32*(math.Abs(pre)+float64(h.LR)), "p: n=%d i=%d", n, i)
				case c == 0:
					okP = inDelta(t, pre, float64(p[i]), 2*epsF32*math.Abs(pre), "p: n=%d i=%d (sign 0)", n, i)
				default: // too close to 0 to know the sign float32 arithmetic finds
					okP = true
				}
				wm := b2*mi + (1-b2)*gi
				okM := inDelta(t, wm, float64(m[i]), 3*epsF32*(b2*math.Abs(mi)+(1-b2)*math.Abs(gi))+1e-30, "m: n=%d i=%d", n, i)
				if !okP || !okM {
					break
				}
			}
		}
	})
}

func TestUpdatePathsAgree(t *testing.T) {
	// Every path stays within a few ulps of the portable one.
	const n = 4*updateGrain + 9
	paths := Available()
	if len(paths) < 2 {
		t.Skip("only one kernel path on this machine")
	}
	prev := Path()
	defer func() { _ = Use(prev) }()
	results := map[string][][]float32{}
	for _, name := range paths {
		assert.NoError(t, Use(name))
		p, g, m, v := adamWState(21, n)
		AdamW(p, g, m, v, adamWSettings[0])
		lp, lg, lm, _ := adamWState(22, n)
		Lion(lp, lg, lm, LionParams{LR: 1e-4, Beta1: 0.9, Beta2: 0.99, Decay: 0.9999})
		results[name] = [][]float32{p, m, v, lp, lm}
	}
	labels := []string{"AdamW p", "AdamW m", "AdamW v", "Lion p", "Lion m"}
	ref := results["generic"]
	for name, res := range results {
		for k := range res {
			worst := 0.0
			for i := range res[k] {
				worst = max(worst, ulpErr(res[k][i], float64(ref[k][i])))
			}
			assert.LessOrEqualf(t, worst, 4.0, "%s vs generic: %s", name, labels[k])
			t.Logf("%s vs generic: %s differs by at most %.1f ulp", name, labels[k], worst)
		}
	}
}

func TestUpdatesThreadsDoNotChangeResults(t *testing.T) {
	const n = 5*updateGrain + 3
	onEveryPath(t, func(t *testing.T) {
		var one, two [][]float32
		for _, threads := range []int{1, 2} {
			p, g, m, v := adamWState(23, n)
			lp, lg, lm, _ := adamWState(24, n)
			withThreads(threads, func() {
				AdamW(p, g, m, v, adamWSettings[1])
				Lion(lp, lg, lm, LionParams{LR: 1e-4, Beta1: 0.9, Beta2: 0.99, Decay: 0.9999})
			})
			if threads == 1 {
				one = [][]float32{p, m, v, lp, lm}
			} else {
				two = [][]float32{p, m, v, lp, lm}
			}
		}
		for k := range one {
			assertSameSlices(t, one[k], two[k], fmt.Sprintf("state %d", k))
		}
	})
}

func TestUpdateLengthMismatchPanics(t *testing.T) {
	a, b := make([]float32, 4), make([]float32, 3)
	assertPanicsMentioning(t, func() { AdamW(a, a, b, a, adamWSettings[0]) }, "kernels.AdamW:", "length mismatch", "p 4", "m 3")
	assertPanicsMentioning(t, func() { AdamW(a, a, a, b, adamWSettings[0]) }, "kernels.AdamW:", "v 3")
	assertPanicsMentioning(t, func() { Lion(a, b, a, LionParams{}) }, "kernels.Lion:", "length mismatch", "g 3")
}
