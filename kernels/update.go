package kernels

import (
	"fmt"
	"math"
	"sync"
)

// AdamWParams are the per-step constants of a fused Adam/AdamW update. The
// update is, per element:
//
//	p *= DecayPre
//	m  = Beta1*m + OneMinusBeta1*g
//	v  = Beta2*v + (OneMinusBeta2*g)*g
//	p -= StepSize * m / (sqrt(v)*DenomScale + Eps)
//	p *= DecayPost
//	p -= DecayAfter*p               (only if DecayAfter ≠ 0)
//
// PyTorch's AdamW is DecayPre = 1-lr*wd, StepSize = lr/bc1,
// DenomScale = 1/sqrt(bc2), DecayPost = 1, DecayAfter = 0; the Hugging Face
// variant that GaLore builds on is DecayPre = 1, StepSize = lr*sqrt(bc2)/bc1,
// DenomScale = 1, DecayPost = 1, DecayAfter = lr*wd. The after-decay is a
// subtraction, as in the reference, because 1-lr*wd rounded to float32 loses
// most of the digits of a small lr*wd.
type AdamWParams struct {
	Beta1, Beta2 float32
	// OneMinusBeta1 and OneMinusBeta2 weigh the gradient in the moments.
	// Callers round 1-β from float64, as PyTorch does: 1-Beta2 from the
	// float32 Beta2 is 1.3e-5 relative off for β2 = 0.999. Zero means
	// 1-Beta from the float32 Beta (equal to the exact 1-β only when β is a
	// float32, such as 0 or 0.5).
	OneMinusBeta1, OneMinusBeta2 float32
	Eps                          float32
	StepSize, DenomScale         float32
	DecayPre, DecayPost          float32
	DecayAfter                   float32
}

// resolved returns h with the zero weights filled in.
func (h AdamWParams) resolved() AdamWParams {
	h.OneMinusBeta1 = oneMinus(h.OneMinusBeta1, h.Beta1)
	h.OneMinusBeta2 = oneMinus(h.OneMinusBeta2, h.Beta2)
	return h
}

// LionParams are the per-step constants of a fused Lion update:
//
//	c  = Beta1*m + OneMinusBeta1*g
//	p  = p*Decay - LR*sign(c)
//	m  = Beta2*m + OneMinusBeta2*g
//
// OneMinusBeta1 and OneMinusBeta2 are as in AdamWParams: rounded from
// float64 by the caller, zero meaning 1-Beta from the float32 Beta.
type LionParams struct {
	LR, Beta1, Beta2, Decay      float32
	OneMinusBeta1, OneMinusBeta2 float32
}

// resolved returns h with the zero weights filled in.
func (h LionParams) resolved() LionParams {
	h.OneMinusBeta1 = oneMinus(h.OneMinusBeta1, h.Beta1)
	h.OneMinusBeta2 = oneMinus(h.OneMinusBeta2, h.Beta2)
	return h
}

// SGDParams are the per-step constants of a fused SGD update as
// torch.optim.SGD defines it, per element:
//
//	d  = g + WeightDecay*p          (d = g if WeightDecay = 0)
//	b  = d on the First step, else Momentum*b + OneMinusDampening*d
//	d  = d + Momentum*b if Nesterov, else d = b
//	p -= LR*d
//
// The two lines of b and the Nesterov line apply only if Momentum ≠ 0;
// otherwise there is no buffer. On the First step the buffer starts as the
// undamped d, whatever it held, as PyTorch's does when it creates it.
type SGDParams struct {
	LR, Momentum, WeightDecay float32
	// Dampening is the weight 1-OneMinusDampening kept from the gradient.
	// OneMinusDampening is rounded from float64 by the caller; zero means
	// 1-Dampening from the float32 Dampening (exact for the default 0).
	Dampening, OneMinusDampening float32
	Nesterov, First              bool
}

// resolved returns h with the zero weight filled in.
func (h SGDParams) resolved() SGDParams {
	h.OneMinusDampening = oneMinus(h.OneMinusDampening, h.Dampening)
	return h
}

// oneMinus returns c, or 1-x if c is zero. The two agree where the exact
// complement of x is zero (x = 1), so zero is free to mean "derive it".
func oneMinus(c, x float32) float32 {
	if c == 0 {
		return 1 - x
	}
	return c
}

const updateGrain = 16384

// updateJob is one fused update split over threads. Jobs are pooled and
// passed as a pointer, so an optimizer step allocates nothing.
type updateJob struct {
	adamW      func(p, g, m, v []float32, h AdamWParams)
	lion       func(p, g, m []float32, h LionParams)
	sgd        func(p, g, b []float32, h SGDParams)
	p, g, m, v []float32
	ah         AdamWParams
	lh         LionParams
	sh         SGDParams
}

func (j *updateJob) run(lo, hi int) {
	switch {
	case j.adamW != nil:
		j.adamW(j.p[lo:hi], j.g[lo:hi], j.m[lo:hi], j.v[lo:hi], j.ah)
	case j.lion != nil:
		j.lion(j.p[lo:hi], j.g[lo:hi], j.m[lo:hi], j.lh)
	default:
		var b []float32
		if j.m != nil {
			b = j.m[lo:hi]
		}
		j.sgd(j.p[lo:hi], j.g[lo:hi], b, j.sh)
	}
}

var updateJobs = sync.Pool{New: func() any { return new(updateJob) }}

func runUpdate(j *updateJob) {
	parallelRange(Threads(), len(j.p), updateGrain, j)
	*j = updateJob{} // drop the slices so the pool does not keep them alive
	updateJobs.Put(j)
}

// AdamW applies one fused Adam/AdamW update to p with gradient g and moments
// m and v, touching each element once.
func AdamW(p, g, m, v []float32, h AdamWParams) {
	if len(g) != len(p) || len(m) != len(p) || len(v) != len(p) {
		panic(fmt.Sprintf("kernels.AdamW: length mismatch: p %d, g %d, m %d, v %d", len(p), len(g), len(m), len(v)))
	}
	h = h.resolved()
	if len(p) < 2*updateGrain {
		active.adamW(p, g, m, v, h)
		return
	}
	j := updateJobs.Get().(*updateJob)
	j.adamW, j.p, j.g, j.m, j.v, j.ah = active.adamW, p, g, m, v, h
	runUpdate(j)
}

// Lion applies one fused Lion update to p with gradient g and momentum m.
func Lion(p, g, m []float32, h LionParams) {
	if len(g) != len(p) || len(m) != len(p) {
		panic(fmt.Sprintf("kernels.Lion: length mismatch: p %d, g %d, m %d", len(p), len(g), len(m)))
	}
	h = h.resolved()
	if len(p) < 2*updateGrain {
		active.lion(p, g, m, h)
		return
	}
	j := updateJobs.Get().(*updateJob)
	j.lion, j.p, j.g, j.m, j.lh = active.lion, p, g, m, h
	runUpdate(j)
}

// SGD applies one fused SGD update to p with gradient g and momentum buffer
// b. Without momentum b is not used and may be nil; with momentum it must be
// as long as p.
func SGD(p, g, b []float32, h SGDParams) {
	if h.Momentum == 0 {
		b = nil
	}
	if len(g) != len(p) || (h.Momentum != 0 && len(b) != len(p)) {
		panic(fmt.Sprintf("kernels.SGD: length mismatch: p %d, g %d, b %d (momentum %v)", len(p), len(g), len(b), h.Momentum))
	}
	h = h.resolved()
	k := activeSGD()
	if len(p) < 2*updateGrain {
		k(p, g, b, h)
		return
	}
	j := updateJobs.Get().(*updateJob)
	j.sgd, j.p, j.g, j.m, j.sh = k, p, g, b, h
	runUpdate(j)
}

func activeSGD() func(p, g, b []float32, h SGDParams) { return active.sgd }

// The portable kernels below convert every product to float32 before it is
// added: a conversion rounds, so the compiler cannot fuse the product and
// the sum into one FMA (as it may for GOAMD64=v3 or arm64). Both paths then
// round every operation alike and give bitwise the same results.

func adamWGeneric(p, g, m, v []float32, h AdamWParams) {
	g, m, v = g[:len(p)], m[:len(p)], v[:len(p)]
	b1, b2, c1, c2 := h.Beta1, h.Beta2, h.OneMinusBeta1, h.OneMinusBeta2
	for i := range p {
		gi := g[i]
		mi := float32(b1*m[i]) + float32(c1*gi)
		vi := float32(b2*v[i]) + float32(float32(c2*gi)*gi)
		m[i], v[i] = mi, vi
		x := float32(p[i] * h.DecayPre)
		x -= h.StepSize * mi / (float32(float32(math.Sqrt(float64(vi)))*h.DenomScale) + h.Eps)
		x = float32(x * h.DecayPost)
		if h.DecayAfter != 0 {
			x -= float32(h.DecayAfter * x)
		}
		p[i] = x
	}
}

func lionGeneric(p, g, m []float32, h LionParams) {
	g, m = g[:len(p)], m[:len(p)]
	b1, b2, c1, c2 := h.Beta1, h.Beta2, h.OneMinusBeta1, h.OneMinusBeta2
	for i := range p {
		gi := g[i]
		c := float32(b1*m[i]) + float32(c1*gi)
		x := float32(p[i] * h.Decay)
		// x -= LR*sign(c), without a branch on the sign, which is random
		// and mispredicted half the time; c = 0 and NaN leave x as it is.
		if c == c && c != 0 {
			x -= h.LR * math.Float32frombits(0x3f800000|math.Float32bits(c)&0x80000000)
		}
		p[i] = x
		m[i] = float32(b2*m[i]) + float32(c2*gi)
	}
}

func sgdGeneric(p, g, b []float32, h SGDParams) {
	g = g[:len(p)]
	lr, wd, mu, c := h.LR, h.WeightDecay, h.Momentum, h.OneMinusDampening
	// The common cases of training get loops without tests in them.
	switch {
	case mu == 0 && wd == 0:
		for i, x := range p {
			p[i] = x - float32(lr*g[i])
		}
		return
	case mu == 0:
		for i, x := range p {
			d := g[i] + float32(wd*x)
			p[i] = x - float32(lr*d)
		}
		return
	}
	b = b[:len(p)]
	switch {
	case !h.First && !h.Nesterov && wd == 0:
		for i, x := range p {
			bi := float32(mu*b[i]) + float32(c*g[i])
			b[i] = bi
			p[i] = x - float32(lr*bi)
		}
		return
	case !h.First && !h.Nesterov:
		for i, x := range p {
			d := g[i] + float32(wd*x)
			bi := float32(mu*b[i]) + float32(c*d)
			b[i] = bi
			p[i] = x - float32(lr*bi)
		}
		return
	case !h.First && wd == 0:
		for i, x := range p {
			d := g[i]
			bi := float32(mu*b[i]) + float32(c*d)
			b[i] = bi
			d += float32(mu * bi)
			p[i] = x - float32(lr*d)
		}
		return
	case !h.First:
		for i, x := range p {
			d := g[i] + float32(wd*x)
			bi := float32(mu*b[i]) + float32(c*d)
			b[i] = bi
			d += float32(mu * bi)
			p[i] = x - float32(lr*d)
		}
		return
	}
	// The first step, once per buffer.
	nesterov := h.Nesterov
	for i, x := range p {
		d := g[i]
		if wd != 0 {
			d += float32(wd * x)
		}
		b[i] = d
		if nesterov {
			d += float32(mu * d)
		}
		p[i] = x - float32(lr*d)
	}
}
