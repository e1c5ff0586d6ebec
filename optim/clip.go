package optim

import (
	"fmt"
	"math"
	"sync"
	"unsafe"

	"github.com/kiln-ml/kiln/autograd"
)

// GradNorm returns the ℓ2 norm of all gradients together, as one vector
// (parameters without a gradient count as zero). It accumulates in float64
// over fixed blocks in a fixed order, so the result does not depend on the
// number of threads.
func GradNorm(params []*autograd.Var) float64 {
	return math.Sqrt(gradReduce(params, sumSquaresLoop))
}

// GradNormL1 returns the ℓ1 norm of all gradients together: the norm whose
// per-step series a refined schedule for Adam-type optimizers is built from
// (see NewRefined).
func GradNormL1(params []*autograd.Var) float64 {
	return gradReduce(params, sumAbsLoop)
}

// ClipGradNorm scales all gradients together so that their ℓ2 norm is at
// most maxNorm, as torch.nn.utils.clip_grad_norm_ does (the factor is
// maxNorm/(norm + 1e-6), applied only when below 1), and returns the norm
// before clipping. When the norm is not finite the gradients are left as
// they are and the norm is returned: check it (or use SkipNonFinite). It
// panics if maxNorm is not positive.
func ClipGradNorm(params []*autograd.Var, maxNorm float64) float64 {
	if !(maxNorm > 0) || math.IsInf(maxNorm, 0) {
		panic(fmt.Sprintf("optim.ClipGradNorm: max norm %v must be positive and finite", maxNorm))
	}
	norm := GradNorm(params)
	if !finite(norm) {
		return norm
	}
	if coef := maxNorm / (norm + 1e-6); coef < 1 {
		c := float32(coef)
		for _, p := range params {
			if g := p.Grad(); g != nil {
				l := newLoop(scaleLoop)
				l.p = contiguousData(g)
				l.k[0] = c
				l.do(len(l.p))
			}
		}
	}
	return norm
}

// ClipGradValue clamps every gradient element to [-clip, clip], as
// torch.nn.utils.clip_grad_value_ does; NaN stays NaN. It panics if clip is
// not positive.
func ClipGradValue(params []*autograd.Var, clip float64) {
	if !(clip > 0) {
		panic(fmt.Sprintf("optim.ClipGradValue: clip value %v must be positive", clip))
	}
	c := float32(clip)
	for _, p := range params {
		if g := p.Grad(); g != nil {
			l := newLoop(clampLoop)
			l.p = contiguousData(g)
			l.k[0] = c
			l.do(len(l.p))
		}
	}
}

// NonFiniteError reports a NaN or infinite gradient element.
type NonFiniteError struct {
	Param string  // name of the parameter
	Index []int   // position of the first non-finite element
	Value float32 // the element: NaN, +Inf or -Inf
}

func (e *NonFiniteError) Error() string {
	return fmt.Sprintf("optim: gradient of parameter %q is %v at %v", e.Param, e.Value, e.Index)
}

// CheckFinite returns a *NonFiniteError naming the first parameter (in the
// given order) whose gradient has a NaN or infinite element, or nil.
func CheckFinite(params []*autograd.Var) error {
	for i, p := range params {
		g := p.Grad()
		if g == nil {
			continue
		}
		data := contiguousData(g)
		if gradReduceOne(data, nonFiniteLoop) == 0 {
			continue
		}
		for j, x := range data {
			if isNonFinite(x) {
				name := p.Name()
				if name == "" {
					name = fmt.Sprint(i)
				}
				return &NonFiniteError{Param: name, Index: unravel(j, g.Shape()), Value: x}
			}
		}
	}
	return nil
}

// unravel turns a flat row-major index into a multi-index.
func unravel(j int, shape []int) []int {
	idx := make([]int, len(shape))
	for d := len(shape) - 1; d >= 0; d-- {
		idx[d] = j % shape[d]
		j /= shape[d]
	}
	return idx
}

// partials holds per-block results of reductions between calls.
var partials = sync.Pool{New: func() any { return new([]float64) }}

// gradReduce sums a per-block reduction over all gradients.
func gradReduce(params []*autograd.Var, body func(l *loop, lo, hi int)) float64 {
	total := 0.0
	for _, p := range params {
		if g := p.Grad(); g != nil {
			total += gradReduceOne(contiguousData(g), body)
		}
	}
	return total
}

// gradReduceOne runs a reduction over x in blocks of grain and sums the
// block results in order.
func gradReduceOne(x []float32, body func(l *loop, lo, hi int)) float64 {
	blocks := (len(x) + grain - 1) / grain
	buf := partials.Get().(*[]float64)
	if cap(*buf) < blocks {
		*buf = make([]float64, blocks)
	}
	out := (*buf)[:blocks]
	l := newLoop(body)
	l.g, l.out = x, out
	l.do(len(x))
	total := 0.0
	for _, v := range out {
		total += v
	}
	partials.Put(buf)
	return total
}

func sumSquaresLoop(l *loop, lo, hi int) {
	for s := lo; s < hi; s += grain {
		x := l.g[s:min(s+grain, hi)]
		var a0, a1, a2, a3 float64
		for len(x) >= 4 {
			v0, v1, v2, v3 := float64(x[0]), float64(x[1]), float64(x[2]), float64(x[3])
			a0 += v0 * v0
			a1 += v1 * v1
			a2 += v2 * v2
			a3 += v3 * v3
			x = x[4:]
		}
		for _, v := range x {
			a0 += float64(v) * float64(v)
		}
		l.out[s/grain] = (a0 + a1) + (a2 + a3)
	}
}

func sumAbsLoop(l *loop, lo, hi int) {
	for s := lo; s < hi; s += grain {
		x := l.g[s:min(s+grain, hi)]
		var a0, a1, a2, a3 float64
		for len(x) >= 4 {
			a0 += math.Abs(float64(x[0]))
			a1 += math.Abs(float64(x[1]))
			a2 += math.Abs(float64(x[2]))
			a3 += math.Abs(float64(x[3]))
			x = x[4:]
		}
		for _, v := range x {
			a0 += math.Abs(float64(v))
		}
		l.out[s/grain] = (a0 + a1) + (a2 + a3)
	}
}

// nonFiniteLoop marks the blocks that hold a non-finite element. An
// exponent of all ones (NaN, ±Inf) carries into the sign bit when the
// lowest exponent bit is added, so the test needs no branch; it reads two
// elements at a time as one 64-bit word.
func nonFiniteLoop(l *loop, lo, hi int) {
	const exp, one = 0x7f800000_7f800000, 0x00800000_00800000
	for s := lo; s < hi; s += grain {
		x := l.g[s:min(s+grain, hi)]
		var acc0, acc1 uint64
		if len(x) > 0 && uintptr(unsafe.Pointer(&x[0]))%8 != 0 {
			acc0 |= uint64(math.Float32bits(x[0]))&exp + one // align the words
			x = x[1:]
		}
		if len(x) >= 2 {
			w := unsafe.Slice((*uint64)(unsafe.Pointer(&x[0])), len(x)/2)
			for len(w) >= 2 {
				acc0 |= w[0]&exp + one
				acc1 |= w[1]&exp + one
				w = w[2:]
			}
			for _, v := range w {
				acc0 |= v&exp + one
			}
		}
		if len(x)%2 == 1 {
			acc0 |= uint64(math.Float32bits(x[len(x)-1]))&exp + one
		}
		acc := acc0 | acc1
		l.out[s/grain] = float64((acc>>31)&1 | acc>>63)
	}
}

func scaleLoop(l *loop, lo, hi int) {
	p, c := l.p[lo:hi], l.k[0]
	for i := range p {
		p[i] *= c
	}
}

func clampLoop(l *loop, lo, hi int) {
	p, c := l.p[lo:hi], l.k[0]
	for i, x := range p {
		if x > c {
			p[i] = c
		} else if x < -c {
			p[i] = -c
		}
	}
}
