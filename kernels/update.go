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
//	m  = Beta1*m + (1-Beta1)*g
//	v  = Beta2*v + (1-Beta2)*g*g
//	p -= StepSize * m / (sqrt(v)*DenomScale + Eps)
//	p *= DecayPost
//
// PyTorch's AdamW is DecayPre = 1-lr*wd, StepSize = lr/bc1,
// DenomScale = 1/sqrt(bc2), DecayPost = 1; the Hugging Face variant that
// GaLore builds on is StepSize = lr*sqrt(bc2)/bc1, DenomScale = 1,
// DecayPost = 1-lr*wd.
type AdamWParams struct {
	Beta1, Beta2, Eps    float32
	StepSize, DenomScale float32
	DecayPre, DecayPost  float32
}

// LionParams are the per-step constants of a fused Lion update:
//
//	c  = Beta1*m + (1-Beta1)*g
//	p  = p*Decay - LR*sign(c)
//	m  = Beta2*m + (1-Beta2)*g
type LionParams struct {
	LR, Beta1, Beta2, Decay float32
}

const updateGrain = 16384

// updateJob is one fused update split over threads. Jobs are pooled and
// passed as a pointer, so an optimizer step allocates nothing.
type updateJob struct {
	adamW      func(p, g, m, v []float32, h AdamWParams)
	lion       func(p, g, m []float32, h LionParams)
	p, g, m, v []float32
	ah         AdamWParams
	lh         LionParams
}

func (j *updateJob) run(lo, hi int) {
	if j.adamW != nil {
		j.adamW(j.p[lo:hi], j.g[lo:hi], j.m[lo:hi], j.v[lo:hi], j.ah)
		return
	}
	j.lion(j.p[lo:hi], j.g[lo:hi], j.m[lo:hi], j.lh)
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
	if len(p) < 2*updateGrain {
		active.lion(p, g, m, h)
		return
	}
	j := updateJobs.Get().(*updateJob)
	j.lion, j.p, j.g, j.m, j.lh = active.lion, p, g, m, h
	runUpdate(j)
}

func adamWGeneric(p, g, m, v []float32, h AdamWParams) {
	g, m, v = g[:len(p)], m[:len(p)], v[:len(p)]
	b1, b2 := h.Beta1, h.Beta2
	c1, c2 := 1-b1, 1-b2
	for i := range p {
		gi := g[i]
		mi := b1*m[i] + c1*gi
		vi := b2*v[i] + c2*gi*gi
		m[i], v[i] = mi, vi
		x := p[i] * h.DecayPre
		x -= h.StepSize * mi / (float32(math.Sqrt(float64(vi)))*h.DenomScale + h.Eps)
		p[i] = x * h.DecayPost
	}
}

func lionGeneric(p, g, m []float32, h LionParams) {
	g, m = g[:len(p)], m[:len(p)]
	for i := range p {
		gi := g[i]
		c := h.Beta1*m[i] + (1-h.Beta1)*gi
		x := p[i] * h.Decay
		// x -= LR*sign(c), without a branch on the sign, which is random
		// and mispredicted half the time; c = 0 and NaN leave x as it is.
		if c == c && c != 0 {
			x -= h.LR * math.Float32frombits(0x3f800000|math.Float32bits(c)&0x80000000)
		}
		p[i] = x
		m[i] = h.Beta2*m[i] + (1-h.Beta2)*gi
	}
}
