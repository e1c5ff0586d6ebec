// Command vec generates kiln's AVX2+FMA vector kernels (kernels/vec_amd64.s):
// elementwise maps, reductions, a vectorised exp and the functions built on
// it, the pieces of the softmax and norm row kernels, and the fused AdamW,
// Lion and SGD updates.
//
// Every kernel walks its slices four (or two, or one) 8-wide vectors at a
// time, then one vector at a time, and finishes the last 1-7 elements with
// masked loads and stores (VMASKMOVPS), so it never touches memory past the
// end of a slice. Run it through go generate in kernels/.
package main

import (
	"fmt"
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

func main() {
	ConstraintExpr("amd64")
	ConstraintExpr("!purego")
	defineConstants()

	for _, op := range []struct {
		name string
		emit func(a, b, dst VecVirtual)
	}{
		{"addAVX2", func(a, b, dst VecVirtual) { VADDPS(b, a, dst) }},
		{"subAVX2", func(a, b, dst VecVirtual) { VSUBPS(b, a, dst) }},
		{"mulAVX2", func(a, b, dst VecVirtual) { VMULPS(b, a, dst) }},
		{"divAVX2", func(a, b, dst VecVirtual) { VDIVPS(b, a, dst) }},
	} {
		binary(op.name, op.emit)
	}
	scale()
	axpy()
	sum()
	dot()
	maxReduce()

	unaryMap("expAVX2", "dst = exp(a)", 2, func(x VecVirtual) VecVirtual { return expOf(x) })
	unaryMap("tanhAVX2", "dst = tanh(a)", 2, tanhOf)
	unaryMap("sigmoidAVX2", "dst = 1/(1+exp(-a))", 2, sigmoidOf)
	unaryMap("geluAVX2", "dst = gelu(a), tanh approximation, as a/(1+exp(-2u))", 2, geluOf)
	geluBackward()

	expSubSum("expSubSumAVX2", true)
	expSubSum("sumExpSubAVX2", false)
	subSub()
	mulSub()
	expMulSub()
	sumSqDev()
	normRow("normAVX2", false, false)
	normRow("normGammaAVX2", true, false)
	normRow("normAffineAVX2", true, true)
	layerNormBackwardSums("lnBackSumsAVX2", true)
	layerNormBackwardSums("lnBackSumsNoGammaAVX2", false)
	layerNormBackwardDx("lnBackDxAVX2", true)
	layerNormBackwardDx("lnBackDxNoGammaAVX2", false)
	accumulateScaledDeviation()
	dotGamma()
	rmsBackwardDx("rmsBackDxAVX2", true)
	rmsBackwardDx("rmsBackDxNoGammaAVX2", false)

	adamW("adamWAVX2", false)
	adamW("adamWDecayAfterAVX2", true)
	lion()
	for _, decay := range []bool{false, true} {
		for _, mode := range []sgdMode{sgdPlain, sgdFirst, sgdMomentum} {
			for _, nesterov := range []bool{false, true} {
				if mode != sgdPlain || !nesterov {
					sgd(decay, mode, nesterov)
				}
			}
		}
	}

	Generate()
}

// ---------------------------------------------------------------------------
// Constants.

var (
	tailMask Mem // 8 x 0xffffffff then 8 x 0: a load at (8-n)*4 masks n lanes

	cOne, cTwo, cNegInf, cAbsMask, cSignMask, cBias Mem

	// exp: clamp range, log2(e), ln(2) in two parts (Cephes), and the
	// polynomial of exp(r) - 1 - r on |r| <= ln(2)/2.
	cExpHi, cExpLo, cLog2e, cLn2Hi, cLn2Lo Mem
	cExpP                                  [6]Mem

	// tanh for |x| < 0.625: x + x^3 P(x^2) (Cephes tanhf).
	cTanhSmall Mem
	cTanhP     [5]Mem

	// GELU: -2u = x (-k0 - k1 x^2); derivative factor k0 + k2 x^2.
	cGeluNegK0, cGeluNegK1, cGeluK0, cGeluK2 Mem
)

func vecConst(name string, bits uint32) Mem {
	m := GLOBL(name, RODATA|NOPTR)
	for i := 0; i < 8; i++ {
		DATA(4*i, U32(bits))
	}
	return m
}

func vecF32(name string, v float64) Mem { return vecConst(name, math.Float32bits(float32(v))) }

func defineConstants() {
	tailMask = GLOBL("tailmask", RODATA|NOPTR)
	for i := 0; i < 16; i++ {
		v := uint32(0)
		if i < 8 {
			v = 0xffffffff
		}
		DATA(4*i, U32(v))
	}
	cOne = vecF32("one", 1)
	cTwo = vecF32("two", 2)
	cNegInf = vecConst("neginf", 0xff800000)
	cAbsMask = vecConst("absmask", 0x7fffffff)
	cSignMask = vecConst("signmask", 0x80000000)
	cBias = vecConst("bias127", 127)

	// Above 88.8, exp overflows whatever the rounding; below -104 it is less
	// than half the smallest subnormal. Clamping keeps n in [-150, 128].
	cExpHi = vecF32("exphi", 88.8)
	cExpLo = vecF32("explo", -104)
	cLog2e = vecF32("log2e", math.Log2E)
	cLn2Hi = vecF32("ln2hi", 0.693359375) // 9 bits: n*ln2hi and x - n*ln2hi are exact
	cLn2Lo = vecF32("ln2lo", -2.12194440e-4)
	for i, c := range []float64{5.0000001201e-1, 1.6666665459e-1, 4.1665795894e-2, 8.3334519073e-3, 1.3981999507e-3, 1.9875691500e-4} {
		cExpP[i] = vecF32(fmt.Sprintf("expp%d", i), c)
	}

	cTanhSmall = vecF32("tanhsmall", 0.625)
	for i, c := range []float64{-3.33332819422e-1, 1.33314422036e-1, -5.37397155531e-2, 2.06390887954e-2, -5.70498872745e-3} {
		cTanhP[i] = vecF32(fmt.Sprintf("tanhp%d", i), c)
	}

	const sqrt2OverPi, a = 0.7978845608028654, 0.044715
	cGeluNegK0 = vecF32("gelunegk0", -2*sqrt2OverPi)
	cGeluNegK1 = vecF32("gelunegk1", -2*sqrt2OverPi*a)
	cGeluK0 = vecF32("geluk0", 2*sqrt2OverPi)
	cGeluK2 = vecF32("geluk2", 6*sqrt2OverPi*a)
}

// ---------------------------------------------------------------------------
// Loop skeleton.

// stream is a slice walked by a kernel: its base pointer advances as the
// loop does.
type stream struct{ p GPVirtual }

func param(name string) stream { return stream{Load(Param(name).Base(), GP64()).(GPVirtual)} }

func (s stream) at(j int) Mem { return Mem{Base: s.p}.Offset(32 * j) }

// load reads vector j of s, or the masked tail if mask is not nil (masked
// lanes read as 0).
func (s stream) load(j int, mask Op) VecVirtual {
	r := YMM()
	if mask != nil {
		VMASKMOVPS(s.at(j), mask, r)
	} else {
		VMOVUPS(s.at(j), r)
	}
	return r
}

// store writes r as vector j of s, only the unmasked lanes if mask is set.
func (s stream) store(r Op, j int, mask Op) {
	if mask != nil {
		VMASKMOVPS(r, mask, s.at(j))
	} else {
		VMOVUPS(r, s.at(j))
	}
}

// forEach emits a loop over n elements of the streams: blocks of unroll
// vectors, then single vectors, then a masked tail. body(nv, mask) handles
// nv vectors at offsets 0..nv-1 (mask is nil except in the tail, where nv
// is 1). n is consumed.
func forEach(n GPVirtual, streams []stream, unroll int, body func(nv int, mask Op)) {
	advance := func(nv int) {
		for _, s := range streams {
			ADDQ(U32(32*nv), s.p)
		}
		SUBQ(U32(8*nv), n)
	}
	if unroll > 1 {
		Label("block")
		CMPQ(n, U32(8*unroll))
		JL(LabelRef("single"))
		body(unroll, nil)
		advance(unroll)
		JMP(LabelRef("block"))
	}
	Label("single")
	CMPQ(n, U32(8))
	JL(LabelRef("tail"))
	body(1, nil)
	advance(1)
	JMP(LabelRef("single"))

	Label("tail")
	TESTQ(n, n)
	JZ(LabelRef("done"))
	idx, tbl := GP64(), GP64()
	MOVQ(U32(8), idx)
	SUBQ(n, idx)
	LEAQ(tailMask, tbl)
	mask := YMM()
	VMOVUPS(Mem{Base: tbl, Index: idx, Scale: 4}, mask)
	body(1, mask)
	Label("done")
}

func length(name string) GPVirtual { return Load(Param(name).Len(), GP64()).(GPVirtual) }

func broadcastParam(name string) VecVirtual {
	x := Load(Param(name), XMM())
	y := YMM()
	VBROADCASTSS(x, y)
	return y
}

// horizontal combines the 8 lanes of acc with op in a fixed order and returns
// the result in the low lane of an XMM register.
func horizontal(acc VecVirtual, op func(a, b, dst Op)) Register {
	lo := acc.AsX()
	hi := XMM()
	VEXTRACTF128(U8(1), acc, hi)
	op(hi, lo, lo)
	t := XMM()
	VPERMILPS(U8(0x0e), lo, t) // lanes 2,3 to 0,1
	op(t, lo, lo)
	VMOVSHDUP(lo, t) // lane 1 to 0
	op(t, lo, lo)
	return lo
}

// hsum adds the 8 lanes of acc.
func hsum(acc VecVirtual) Register {
	return horizontal(acc, func(a, b, dst Op) { VADDPS(a, b, dst) })
}

// combine adds the accumulators pairwise into acc[0].
func combine(acc []VecVirtual, op func(a, b, dst Op)) {
	for step := 1; step < len(acc); step *= 2 {
		for i := 0; i+step < len(acc); i += 2 * step {
			op(acc[i+step], acc[i], acc[i])
		}
	}
}

// ---------------------------------------------------------------------------
// Elementwise arithmetic.

func binary(name string, emit func(a, b, dst VecVirtual)) {
	TEXT(name, NOSPLIT, "func(dst, a, b []float32)")
	dst, a, b := param("dst"), param("a"), param("b")
	n := length("dst")
	forEach(n, []stream{dst, a, b}, 4, func(nv int, mask Op) {
		rs := make([]VecVirtual, nv)
		for j := range rs {
			rs[j] = a.load(j, mask)
			emit(rs[j], b.load(j, mask), rs[j])
		}
		for j, r := range rs {
			dst.store(r, j, mask)
		}
	})
	VZEROUPPER()
	RET()
}

func scale() {
	TEXT("scaleAVX2", NOSPLIT, "func(dst, a []float32, s float32)")
	Doc("scaleAVX2 sets dst = s*a.")
	dst, a := param("dst"), param("a")
	s := broadcastParam("s")
	n := length("dst")
	forEach(n, []stream{dst, a}, 4, func(nv int, mask Op) {
		rs := make([]VecVirtual, nv)
		for j := range rs {
			rs[j] = a.load(j, mask)
			VMULPS(s, rs[j], rs[j])
		}
		for j, r := range rs {
			dst.store(r, j, mask)
		}
	})
	VZEROUPPER()
	RET()
}

func axpy() {
	TEXT("axpyAVX2", NOSPLIT, "func(dst []float32, alpha float32, x []float32)")
	Doc("axpyAVX2 sets dst += alpha*x (fused multiply-add).")
	dst, x := param("dst"), param("x")
	alpha := broadcastParam("alpha")
	n := length("dst")
	forEach(n, []stream{dst, x}, 4, func(nv int, mask Op) {
		rs := make([]VecVirtual, nv)
		for j := range rs {
			rs[j] = dst.load(j, mask)
			VFMADD231PS(x.load(j, mask), alpha, rs[j])
		}
		for j, r := range rs {
			dst.store(r, j, mask)
		}
	})
	VZEROUPPER()
	RET()
}

// ---------------------------------------------------------------------------
// Reductions: four 8-wide accumulators in flight, combined in a fixed order.

func zeros(k int) []VecVirtual {
	acc := make([]VecVirtual, k)
	for i := range acc {
		acc[i] = YMM()
		VXORPS(acc[i], acc[i], acc[i])
	}
	return acc
}

func sum() {
	TEXT("sumAVX2", NOSPLIT, "func(a []float32) float32")
	Doc("sumAVX2 returns the sum of a.")
	a := param("a")
	n := length("a")
	acc := zeros(4)
	forEach(n, []stream{a}, 4, func(nv int, mask Op) {
		for j := 0; j < nv; j++ {
			VADDPS(a.load(j, mask), acc[j], acc[j])
		}
	})
	combine(acc, func(a, b, dst Op) { VADDPS(a, b, dst) })
	Store(hsum(acc[0]), ReturnIndex(0))
	VZEROUPPER()
	RET()
}

func dot() {
	TEXT("dotAVX2", NOSPLIT, "func(a, b []float32) float32")
	Doc("dotAVX2 returns the inner product of a and b.")
	a, b := param("a"), param("b")
	n := length("a")
	acc := zeros(4)
	forEach(n, []stream{a, b}, 4, func(nv int, mask Op) {
		for j := 0; j < nv; j++ {
			VFMADD231PS(b.load(j, mask), a.load(j, mask), acc[j])
		}
	})
	combine(acc, func(a, b, dst Op) { VADDPS(a, b, dst) })
	Store(hsum(acc[0]), ReturnIndex(0))
	VZEROUPPER()
	RET()
}

func maxReduce() {
	TEXT("maxAVX2", NOSPLIT, "func(a []float32) float32")
	Doc("maxAVX2 returns the largest element of a, ignoring NaNs; -Inf if there is none.")
	a := param("a")
	n := length("a")
	acc := make([]VecVirtual, 4)
	for i := range acc {
		acc[i] = YMM()
		VMOVUPS(cNegInf, acc[i])
	}
	// VMAXPS returns its second source when either is NaN: keep the
	// accumulator there so that NaN inputs are skipped.
	forEach(n, []stream{a}, 4, func(nv int, mask Op) {
		for j := 0; j < nv; j++ {
			x := a.load(j, mask)
			if mask != nil {
				VBLENDVPS(mask, x, acc[j], x) // masked-off lanes: keep acc
			}
			VMAXPS(acc[j], x, acc[j])
		}
	})
	combine(acc, func(a, b, dst Op) { VMAXPS(a, b, dst) })
	Store(horizontal(acc[0], func(a, b, dst Op) { VMAXPS(a, b, dst) }), ReturnIndex(0))
	VZEROUPPER()
	RET()
}

// ---------------------------------------------------------------------------
// exp and the functions built on it.

// expOf returns exp(x) lane-wise; x is clobbered. exp(x) = 2^n exp(r) with
// n = round(x log2 e) and r = x - n ln 2, |r| <= ln(2)/2; 2^n is applied as
// two factors 2^(n/2) 2^(n-n/2), so that results in the subnormal range are
// rounded once and overflow gives +Inf. The clamps keep NaN (VMINPS and
// VMAXPS return the second source, x, when it is NaN).
func expOf(x VecVirtual) VecVirtual {
	t := YMM()
	VMOVUPS(cExpHi, t)
	VMINPS(x, t, x)
	VMOVUPS(cExpLo, t)
	VMAXPS(x, t, x)

	n := YMM()
	VMULPS(cLog2e, x, n)
	VROUNDPS(U8(0), n, n) // nearest, ties to even
	VFNMADD231PS(cLn2Hi, n, x)
	VFNMADD231PS(cLn2Lo, n, x) // x is now r

	p := YMM()
	VMOVUPS(cExpP[5], p)
	for i := 4; i >= 0; i-- {
		VFMADD213PS(cExpP[i], x, p) // p = p*r + P[i]
	}
	r2 := t
	VMULPS(x, x, r2)
	VFMADD213PS(x, r2, p) // p = p*r^2 + r
	VADDPS(cOne, p, p)

	ni := YMM()
	VCVTPS2DQ(n, ni)
	h := n
	VPSRAD(U8(1), ni, h)
	VPSUBD(h, ni, ni)
	VPADDD(cBias, h, h)
	VPSLLD(U8(23), h, h)
	VPADDD(cBias, ni, ni)
	VPSLLD(U8(23), ni, ni)
	VMULPS(h, p, p)
	VMULPS(ni, p, p)
	return p
}

// tanhOf: x + x^3 P(x^2) for |x| < 0.625, else sign(x) (1 - 2/(exp(2|x|)+1)).
func tanhOf(x VecVirtual) VecVirtual {
	z := YMM()
	VMULPS(x, x, z)
	q := YMM()
	VMOVUPS(cTanhP[4], q)
	for i := 3; i >= 0; i-- {
		VFMADD213PS(cTanhP[i], z, q)
	}
	VMULPS(z, q, q)
	VFMADD213PS(x, x, q) // q = x*q + x: the small-|x| result

	ax := YMM()
	VANDPS(cAbsMask, x, ax)
	small := YMM()
	VCMPPS(U8(1), cTanhSmall, ax, small) // |x| < 0.625 (false for NaN)
	VADDPS(ax, ax, ax)
	e := expOf(ax)
	VADDPS(cOne, e, e)
	two := YMM()
	VMOVUPS(cTwo, two)
	VDIVPS(e, two, e)
	one := two
	VMOVUPS(cOne, one)
	VSUBPS(e, one, e) // 1 - 2/(exp(2|x|)+1)
	VANDPS(cSignMask, x, x)
	VORPS(x, e, e)
	VBLENDVPS(small, q, e, e)
	return e
}

// sigmoidOf: with e = exp(-|x|), 1/(1+e) for x >= 0 and e/(1+e) for x < 0,
// so that neither side loses precision.
func sigmoidOf(x VecVirtual) VecVirtual {
	t := YMM()
	VORPS(cSignMask, x, t) // -|x|
	e := expOf(t)
	d := YMM()
	VADDPS(cOne, e, d)
	one := YMM()
	VMOVUPS(cOne, one)
	VBLENDVPS(x, e, one, e) // sign bit of x set: e, else 1
	VDIVPS(d, e, e)
	return e
}

// geluArg returns w = -2u = x (-k0 - k1 x^2) and x^2, and lo such that
// w + lo is -2u to about twice float32 precision (for |x| < 4.7, where
// -k0 - t is exact): the error of w would otherwise be multiplied by |w| in
// exp(w), some 10 ulps for x near -3.
func geluArg(x VecVirtual) (w, lo, x2 VecVirtual) {
	x2 = YMM()
	VMULPS(x, x, x2)
	r1 := YMM()
	VMOVAPS(x, r1)
	VFMSUB213PS(x2, x, r1) // r1 = x*x - x2, exact
	t := YMM()
	VMOVUPS(cGeluNegK1, t)
	VFMADD213PS(cGeluNegK0, x2, t) // t = -k0 - k1 x2
	c := YMM()
	VMOVUPS(cGeluNegK0, c)
	VSUBPS(t, c, c)                // -k0 - t
	VFMADD231PS(cGeluNegK1, x2, c) // + (-k1 x2): the rounding error of t
	VFMADD231PS(cGeluNegK1, r1, c) // + (-k1 r1): the error of x2
	w = YMM()
	VMULPS(x, t, w)
	lo = r1
	VMOVAPS(w, lo)
	VFMSUB231PS(x, t, lo) // lo = x*t - w, exact
	VFMADD231PS(x, c, lo) // + x*c
	return w, lo, x2
}

// geluExp returns e = exp(-|w + lo|); w and lo are clobbered but w keeps
// its sign bit.
func geluExp(w, lo VecVirtual) VecVirtual {
	t := YMM()
	VORPS(cSignMask, w, t) // -|w|
	e := expOf(t)
	// exp(-|w| -+ lo) = e (1 -+ lo): flip lo's sign where w >= 0.
	VANDNPS(cSignMask, w, t) // ~w & sign
	VXORPS(t, lo, lo)
	VMINPS(cOne, lo, lo) // NaN (x infinite, e = 0) -> 1
	VFMADD231PS(lo, e, e)
	return e
}

// geluOf: 0.5 x (1 + tanh(u)) = x sigmoid(2u), which avoids the
// cancellation in 1 + tanh(u) for negative x. With w = -2u and
// e = exp(-|w|): x/(1+e) for w < 0, x e/(1+e) for w >= 0.
func geluOf(x VecVirtual) VecVirtual {
	w, lo, _ := geluArg(x)
	e := geluExp(w, lo)
	d := YMM()
	VADDPS(cOne, e, d)
	VMULPS(x, e, e)
	VBLENDVPS(w, x, e, e)
	VDIVPS(d, e, e)
	return e
}

func unaryMap(name, doc string, unroll int, f func(x VecVirtual) VecVirtual) {
	TEXT(name, NOSPLIT, "func(dst, a []float32)")
	Doc(name + " sets " + doc + ".")
	dst, a := param("dst"), param("a")
	n := length("dst")
	forEach(n, []stream{dst, a}, unroll, func(nv int, mask Op) {
		for j := 0; j < nv; j++ {
			dst.store(f(a.load(j, mask)), j, mask)
		}
	})
	VZEROUPPER()
	RET()
}

// geluBackward: the derivative of x sigmoid(2u) is s + s(1-s) x (k0 + k2 x^2)
// with s = sigmoid(2u). With e = exp(-|2u|) and r = 1/(1+e), s and 1-s are r
// and e r (which is which depends on the sign of u), and s(1-s) = r e r.
func geluBackward() {
	TEXT("geluBackwardAVX2", NOSPLIT, "func(dx, x, dy []float32)")
	Doc("geluBackwardAVX2 sets dx = dy * gelu'(x).")
	dx, xs, dy := param("dx"), param("x"), param("dy")
	n := length("dx")
	forEach(n, []stream{dx, xs, dy}, 2, func(nv int, mask Op) {
		for j := 0; j < nv; j++ {
			x := xs.load(j, mask)
			w, lo, x2 := geluArg(x)
			e := geluExp(w, lo)
			r := lo
			VADDPS(cOne, e, r)
			one := YMM()
			VMOVUPS(cOne, one)
			VDIVPS(r, one, r) // r = 1/(1+e)
			VMULPS(r, e, e)   // e r
			s := one
			VBLENDVPS(w, r, e, s) // s = r where w < 0 (u > 0), else e r
			VMULPS(r, e, e)       // s(1-s)
			k := w
			VMOVUPS(cGeluK2, k)
			VFMADD213PS(cGeluK0, x2, k)
			VMULPS(x, k, k)
			VFMADD213PS(s, k, e) // s + s(1-s) x (k0 + k2 x^2)
			VMULPS(dy.load(j, mask), e, e)
			dx.store(e, j, mask)
		}
	})
	VZEROUPPER()
	RET()
}

// ---------------------------------------------------------------------------
// Softmax pieces.

// expSubSum: dst = exp(src - m) (if store), returns the sum of those values.
func expSubSum(name string, store bool) {
	if store {
		TEXT(name, NOSPLIT, "func(dst, src []float32, m float32) float32")
		Doc(name + " sets dst = exp(src - m) and returns its sum.")
	} else {
		TEXT(name, NOSPLIT, "func(src []float32, m float32) float32")
		Doc(name + " returns the sum of exp(src - m).")
	}
	var dst stream
	streams := []stream{}
	if store {
		dst = param("dst")
		streams = append(streams, dst)
	}
	src := param("src")
	streams = append(streams, src)
	m := broadcastParam("m")
	n := length("src")
	acc := zeros(2)
	forEach(n, streams, 2, func(nv int, mask Op) {
		for j := 0; j < nv; j++ {
			x := src.load(j, mask)
			VSUBPS(m, x, x)
			e := expOf(x)
			if mask != nil {
				VANDPS(mask, e, e) // masked lanes hold exp(-m)
			}
			if store {
				dst.store(e, j, mask)
			}
			VADDPS(e, acc[j], acc[j])
		}
	})
	combine(acc, func(a, b, dst Op) { VADDPS(a, b, dst) })
	Store(hsum(acc[0]), ReturnIndex(0))
	VZEROUPPER()
	RET()
}

func subSub() {
	TEXT("subSubAVX2", NOSPLIT, "func(dst, src []float32, a, b float32)")
	Doc("subSubAVX2 sets dst = (src - a) - b.")
	dst, src := param("dst"), param("src")
	a, b := broadcastParam("a"), broadcastParam("b")
	n := length("dst")
	forEach(n, []stream{dst, src}, 4, func(nv int, mask Op) {
		rs := make([]VecVirtual, nv)
		for j := range rs {
			rs[j] = src.load(j, mask)
			VSUBPS(a, rs[j], rs[j])
			VSUBPS(b, rs[j], rs[j])
		}
		for j, r := range rs {
			dst.store(r, j, mask)
		}
	})
	VZEROUPPER()
	RET()
}

func mulSub() {
	TEXT("mulSubAVX2", NOSPLIT, "func(dst, y, dy []float32, s float32)")
	Doc("mulSubAVX2 sets dst = y * (dy - s).")
	dst, y, dy := param("dst"), param("y"), param("dy")
	s := broadcastParam("s")
	n := length("dst")
	forEach(n, []stream{dst, y, dy}, 4, func(nv int, mask Op) {
		rs := make([]VecVirtual, nv)
		for j := range rs {
			rs[j] = dy.load(j, mask)
			VSUBPS(s, rs[j], rs[j])
			VMULPS(y.load(j, mask), rs[j], rs[j])
		}
		for j, r := range rs {
			dst.store(r, j, mask)
		}
	})
	VZEROUPPER()
	RET()
}

func expMulSub() {
	TEXT("expMulSubAVX2", NOSPLIT, "func(dst, y, dy []float32, s float32)")
	Doc("expMulSubAVX2 sets dst = dy - exp(y)*s.")
	dst, y, dy := param("dst"), param("y"), param("dy")
	s := broadcastParam("s")
	n := length("dst")
	forEach(n, []stream{dst, y, dy}, 2, func(nv int, mask Op) {
		for j := 0; j < nv; j++ {
			e := expOf(y.load(j, mask))
			d := dy.load(j, mask)
			VFNMADD231PS(s, e, d)
			dst.store(d, j, mask)
		}
	})
	VZEROUPPER()
	RET()
}

// ---------------------------------------------------------------------------
// Norm pieces.

func sumSqDev() {
	TEXT("sumSqDevAVX2", NOSPLIT, "func(x []float32, m float32) float32")
	Doc("sumSqDevAVX2 returns the sum of (x - m)^2.")
	x := param("x")
	m := broadcastParam("m")
	n := length("x")
	acc := zeros(4)
	forEach(n, []stream{x}, 4, func(nv int, mask Op) {
		for j := 0; j < nv; j++ {
			d := x.load(j, mask)
			VSUBPS(m, d, d)
			if mask != nil {
				VANDPS(mask, d, d)
			}
			VFMADD231PS(d, d, acc[j])
		}
	})
	combine(acc, func(a, b, dst Op) { VADDPS(a, b, dst) })
	Store(hsum(acc[0]), ReturnIndex(0))
	VZEROUPPER()
	RET()
}

// normRow: dst = (x - m) * r [* gamma [+ beta]], rounded in that order
// (the shift by beta fused with the multiply by gamma).
func normRow(name string, gamma, beta bool) {
	sig := "func(dst, x []float32, m, r float32)"
	doc := name + " sets dst = (x - m) * r"
	switch {
	case beta:
		sig = "func(dst, x, gamma, beta []float32, m, r float32)"
		doc += " * gamma + beta"
	case gamma:
		sig = "func(dst, x, gamma []float32, m, r float32)"
		doc += " * gamma"
	}
	TEXT(name, NOSPLIT, sig)
	Doc(doc + ".")
	dst, x := param("dst"), param("x")
	streams := []stream{dst, x}
	var g, b stream
	if gamma {
		g = param("gamma")
		streams = append(streams, g)
	}
	if beta {
		b = param("beta")
		streams = append(streams, b)
	}
	m, r := broadcastParam("m"), broadcastParam("r")
	n := length("dst")
	forEach(n, streams, 4, func(nv int, mask Op) {
		rs := make([]VecVirtual, nv)
		for j := range rs {
			rs[j] = x.load(j, mask)
			VSUBPS(m, rs[j], rs[j])
			VMULPS(r, rs[j], rs[j])
			switch {
			case beta:
				VFMADD213PS(b.load(j, mask), g.load(j, mask), rs[j])
			case gamma:
				VMULPS(g.load(j, mask), rs[j], rs[j])
			}
		}
		for j, v := range rs {
			dst.store(v, j, mask)
		}
	})
	VZEROUPPER()
	RET()
}

// layerNormBackwardSums returns sum(g) and sum(g*(x - m)) with g = dy*gamma
// (or dy).
func layerNormBackwardSums(name string, gamma bool) {
	sig := "func(dy, x []float32, m float32) (sg, sgx float32)"
	if gamma {
		sig = "func(dy, x, gamma []float32, m float32) (sg, sgx float32)"
	}
	TEXT(name, NOSPLIT, sig)
	Doc(name + " returns sum(g) and sum(g*(x-m)) for g = dy*gamma (gamma omitted: 1).")
	dy, x := param("dy"), param("x")
	streams := []stream{dy, x}
	var gm stream
	if gamma {
		gm = param("gamma")
		streams = append(streams, gm)
	}
	m := broadcastParam("m")
	n := length("dy")
	acc := zeros(4) // 0,1: sum g; 2,3: sum g(x-m)
	forEach(n, streams, 2, func(nv int, mask Op) {
		for j := 0; j < nv; j++ {
			g := dy.load(j, mask)
			if gamma {
				VMULPS(gm.load(j, mask), g, g)
			}
			d := x.load(j, mask)
			VSUBPS(m, d, d)
			VADDPS(g, acc[j], acc[j])
			VFMADD231PS(d, g, acc[2+j]) // g is 0 in masked lanes
		}
	})
	VADDPS(acc[1], acc[0], acc[0])
	VADDPS(acc[3], acc[2], acc[2])
	Store(hsum(acc[0]), Return("sg"))
	Store(hsum(acc[2]), Return("sgx"))
	VZEROUPPER()
	RET()
}

// layerNormBackwardDx: dx = s * (g - a - (x - m)*s*b), g = dy*gamma.
func layerNormBackwardDx(name string, gamma bool) {
	sig := "func(dx, dy, x []float32, m, s, a, b float32)"
	if gamma {
		sig = "func(dx, dy, x, gamma []float32, m, s, a, b float32)"
	}
	TEXT(name, NOSPLIT, sig)
	Doc(name + " sets dx = s * (g - a - (x-m)*s*b) for g = dy*gamma (gamma omitted: 1).")
	dx, dy, x := param("dx"), param("dy"), param("x")
	streams := []stream{dx, dy, x}
	var gm stream
	if gamma {
		gm = param("gamma")
		streams = append(streams, gm)
	}
	m, s, a, b := broadcastParam("m"), broadcastParam("s"), broadcastParam("a"), broadcastParam("b")
	n := length("dx")
	forEach(n, streams, 2, func(nv int, mask Op) {
		rs := make([]VecVirtual, nv)
		for j := range rs {
			g := dy.load(j, mask)
			if gamma {
				VMULPS(gm.load(j, mask), g, g)
			}
			VSUBPS(a, g, g)
			xh := x.load(j, mask)
			VSUBPS(m, xh, xh)
			VMULPS(s, xh, xh)
			VFNMADD231PS(b, xh, g)
			VMULPS(s, g, g)
			rs[j] = g
		}
		for j, v := range rs {
			dx.store(v, j, mask)
		}
	})
	VZEROUPPER()
	RET()
}

func accumulateScaledDeviation() {
	TEXT("accDevAVX2", NOSPLIT, "func(acc, dy, x []float32, m, s float32)")
	Doc("accDevAVX2 sets acc += dy * ((x - m) * s).")
	acc, dy, x := param("acc"), param("dy"), param("x")
	m, s := broadcastParam("m"), broadcastParam("s")
	n := length("acc")
	forEach(n, []stream{acc, dy, x}, 4, func(nv int, mask Op) {
		rs := make([]VecVirtual, nv)
		for j := range rs {
			d := x.load(j, mask)
			VSUBPS(m, d, d)
			VMULPS(s, d, d)
			rs[j] = acc.load(j, mask)
			VFMADD231PS(dy.load(j, mask), d, rs[j])
		}
		for j, v := range rs {
			acc.store(v, j, mask)
		}
	})
	VZEROUPPER()
	RET()
}

func dotGamma() {
	TEXT("dotGammaAVX2", NOSPLIT, "func(dy, gamma, x []float32) float32")
	Doc("dotGammaAVX2 returns sum(dy*gamma*x).")
	dy, gm, x := param("dy"), param("gamma"), param("x")
	n := length("dy")
	acc := zeros(4)
	forEach(n, []stream{dy, gm, x}, 4, func(nv int, mask Op) {
		for j := 0; j < nv; j++ {
			g := dy.load(j, mask)
			VMULPS(gm.load(j, mask), g, g)
			VFMADD231PS(x.load(j, mask), g, acc[j])
		}
	})
	combine(acc, func(a, b, dst Op) { VADDPS(a, b, dst) })
	Store(hsum(acc[0]), ReturnIndex(0))
	VZEROUPPER()
	RET()
}

// rmsBackwardDx: dx = s * (g - x*k), g = dy*gamma.
func rmsBackwardDx(name string, gamma bool) {
	sig := "func(dx, dy, x []float32, s, k float32)"
	if gamma {
		sig = "func(dx, dy, x, gamma []float32, s, k float32)"
	}
	TEXT(name, NOSPLIT, sig)
	Doc(name + " sets dx = s * (g - x*k) for g = dy*gamma (gamma omitted: 1).")
	dx, dy, x := param("dx"), param("dy"), param("x")
	streams := []stream{dx, dy, x}
	var gm stream
	if gamma {
		gm = param("gamma")
		streams = append(streams, gm)
	}
	s, k := broadcastParam("s"), broadcastParam("k")
	n := length("dx")
	forEach(n, streams, 4, func(nv int, mask Op) {
		rs := make([]VecVirtual, nv)
		for j := range rs {
			g := dy.load(j, mask)
			if gamma {
				VMULPS(gm.load(j, mask), g, g)
			}
			VFNMADD231PS(k, x.load(j, mask), g)
			VMULPS(s, g, g)
			rs[j] = g
		}
		for j, v := range rs {
			dx.store(v, j, mask)
		}
	})
	VZEROUPPER()
	RET()
}

// ---------------------------------------------------------------------------
// Fused optimizer updates. The operations and their order are those of the
// portable Go code, so both paths round alike.

func broadcastConsts(ptr string, k int) []VecVirtual {
	c := Mem{Base: Load(Param(ptr), GP64())}
	v := make([]VecVirtual, k)
	for i := range v {
		v[i] = YMM()
		VBROADCASTSS(c.Offset(4*i), v[i])
	}
	return v
}

func adamW(name string, after bool) {
	k := 9
	sig, doc := "func(p, g, m, v []float32, c *[9]float32)", "."
	if after {
		k = 10
		sig, doc = "func(p, g, m, v []float32, c *[10]float32)", ", fraction of p subtracted after."
	}
	TEXT(name, NOSPLIT, sig)
	Doc(name+" applies the AdamW update with c = beta1, 1-beta1, beta2, 1-beta2,",
		"eps, step size, denominator scale, factor before, factor after"+doc)
	p, g, m, v := param("p"), param("g"), param("m"), param("v")
	c := broadcastConsts("c", k)
	b1, c1, b2, c2, eps, step, dscale, pre, post := c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8]
	n := length("p")
	forEach(n, []stream{p, g, m, v}, 1, func(_ int, mask Op) {
		gi := g.load(0, mask)
		mi := m.load(0, mask)
		t := YMM()
		VMULPS(b1, mi, mi)
		VMULPS(c1, gi, t)
		VADDPS(t, mi, mi) // m = b1*m + (1-b1)*g
		vi := v.load(0, mask)
		VMULPS(b2, vi, vi)
		VMULPS(c2, gi, t)
		VMULPS(gi, t, t)
		VADDPS(t, vi, vi) // v = b2*v + ((1-b2)*g)*g
		m.store(mi, 0, mask)
		v.store(vi, 0, mask)
		d := gi
		VSQRTPS(vi, d)
		VMULPS(dscale, d, d)
		VADDPS(eps, d, d)
		VMULPS(step, mi, t)
		VDIVPS(d, t, t)
		x := p.load(0, mask)
		VMULPS(pre, x, x)
		VSUBPS(t, x, x)
		VMULPS(post, x, x)
		if after {
			VMULPS(c[9], x, t)
			VSUBPS(t, x, x) // p -= after*p
		}
		p.store(x, 0, mask)
	})
	VZEROUPPER()
	RET()
}

func lion() {
	TEXT("lionAVX2", NOSPLIT, "func(p, g, m []float32, c *[6]float32)")
	Doc("lionAVX2 applies the Lion update with c = lr, beta1, 1-beta1, beta2, 1-beta2, decay.")
	p, g, m := param("p"), param("g"), param("m")
	c := broadcastConsts("c", 6)
	lr, b1, c1, b2, c2, decay := c[0], c[1], c[2], c[3], c[4], c[5]
	zero := YMM()
	VXORPS(zero, zero, zero)
	n := length("p")
	forEach(n, []stream{p, g, m}, 1, func(_ int, mask Op) {
		gi := g.load(0, mask)
		mi := m.load(0, mask)
		u, t := YMM(), YMM()
		VMULPS(b1, mi, u)
		VMULPS(c1, gi, t)
		VADDPS(t, u, u) // c = b1*m + (1-b1)*g
		VMULPS(b2, mi, mi)
		VMULPS(c2, gi, gi)
		VADDPS(gi, mi, mi) // m = b2*m + (1-b2)*g
		m.store(mi, 0, mask)

		x := p.load(0, mask)
		VMULPS(decay, x, x)
		gt, lt := gi, mi
		VCMPPS(U8(0x1e), zero, u, gt) // c > 0 (ordered)
		VCMPPS(U8(0x11), zero, u, lt) // c < 0 (ordered)
		VSUBPS(lr, x, t)
		VBLENDVPS(gt, t, x, x)
		VADDPS(lr, x, t)
		VBLENDVPS(lt, t, x, x)
		p.store(x, 0, mask)
	})
	VZEROUPPER()
	RET()
}

// sgdMode is how an SGD kernel treats the momentum buffer.
type sgdMode int

const (
	sgdPlain    sgdMode = iota // no momentum, no buffer
	sgdFirst                   // the buffer starts as the gradient
	sgdMomentum                // b = mu*b + (1-dampening)*g
)

// sgdName is the name of the SGD kernel with the given options.
func sgdName(decay bool, mode sgdMode, nesterov bool) string {
	name := "sgd"
	if decay {
		name += "Decay"
	}
	name += [...]string{"", "MomentumFirst", "Momentum"}[mode]
	if nesterov {
		name += "Nesterov"
	}
	return name + "AVX2"
}

// sgd emits one SGD kernel: each option is a kernel of its own rather than
// a test in the loop. All take the same arguments, c = 1-dampening.
func sgd(decay bool, mode sgdMode, nesterov bool) {
	name := sgdName(decay, mode, nesterov)
	TEXT(name, NOSPLIT, "func(p, g, b []float32, lr, wd, mu, c float32)")
	what := map[sgdMode]string{sgdPlain: "without momentum", sgdFirst: "on the first step of the momentum buffer b", sgdMomentum: "with momentum buffer b"}[mode]
	if nesterov {
		what += " (Nesterov)"
	}
	if decay {
		what += ", weight decay wd added to the gradient"
	}
	Doc(name + " applies the SGD update " + what + ".")
	p, g := param("p"), param("g")
	streams := []stream{p, g}
	var b stream
	if mode != sgdPlain {
		b = param("b")
		streams = append(streams, b)
	}
	lr := broadcastParam("lr")
	var wd, mu, c VecVirtual
	if decay {
		wd = broadcastParam("wd")
	}
	if mode != sgdPlain && (mode == sgdMomentum || nesterov) {
		mu = broadcastParam("mu")
	}
	if mode == sgdMomentum {
		c = broadcastParam("c")
	}
	n := length("p")
	forEach(n, streams, 1, func(_ int, mask Op) {
		d := g.load(0, mask)
		x := p.load(0, mask)
		t := YMM()
		if decay {
			VMULPS(wd, x, t)
			VADDPS(t, d, d) // d = g + wd*p
		}
		if mode != sgdPlain {
			bi := d
			if mode == sgdMomentum {
				bi = b.load(0, mask)
				VMULPS(mu, bi, bi)
				VMULPS(c, d, t)
				VADDPS(t, bi, bi) // b = mu*b + (1-dampening)*d
			}
			b.store(bi, 0, mask)
			if nesterov {
				VMULPS(mu, bi, t)
				VADDPS(t, d, d) // d += mu*b
			} else {
				d = bi
			}
		}
		VMULPS(lr, d, t)
		VSUBPS(t, x, x) // p -= lr*d
		p.store(x, 0, mask)
	})
	VZEROUPPER()
	RET()
}
