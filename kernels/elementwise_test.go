package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// vecLengths are the slice lengths every vector kernel is tested on: empty,
// shorter than, equal to and around one 8-wide register, around four of them
// (one unrolled loop step), and one long enough to be split over threads.
var vecLengths = []int{0, 1, 7, 8, 9, 31, 33, 1000, 5*elemGrain + 3}

// epsF32 is the spacing of float32 numbers just above 1 (2^-23).
const epsF32 = 1.0 / (1 << 23)

// onEveryPath runs fn as a subtest once per kernel path this machine can run,
// restoring the path that was active before.
func onEveryPath(t *testing.T, fn func(t *testing.T)) {
	t.Helper()
	prev := Path()
	t.Cleanup(func() { require.NoError(t, Use(prev)) })
	for _, name := range Available() {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, Use(name))
			fn(t)
		})
	}
}

// withThreads runs fn with SetThreads(n) and restores the previous setting.
func withThreads(n int, fn func()) {
	prev := Threads()
	SetThreads(n)
	defer SetThreads(prev)
	fn()
}

func newTestRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x6b696c6e)) }

// uniformSlice returns n values drawn uniformly from [lo, hi).
func uniformSlice(r *rand.Rand, n int, lo, hi float64) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(lo + (hi-lo)*r.Float64())
	}
	return s
}

// normalSlice returns n values drawn from N(mean, std²).
func normalSlice(r *rand.Rand, n int, mean, std float64) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(mean + std*r.NormFloat64())
	}
	return s
}

func cloneF32(s []float32) []float32 { return append([]float32(nil), s...) }

// sameBits reports whether a and b are the same float32, counting any two
// NaNs as the same.
func sameBits(a, b float32) bool {
	return math.Float32bits(a) == math.Float32bits(b) || (a != a && b != b)
}

// assertSameSlices checks that got and want are bitwise equal (NaNs match
// NaNs) and reports the first difference.
func assertSameSlices(t *testing.T, want, got []float32, what string) bool {
	t.Helper()
	if !assert.Len(t, got, len(want), what) {
		return false
	}
	for i := range want {
		if !sameBits(want[i], got[i]) {
			assert.Failf(t, "values differ", "%s: element %d of %d: want %g (%#08x), got %g (%#08x)",
				what, i, len(want), want[i], math.Float32bits(want[i]), got[i], math.Float32bits(got[i]))
			return false
		}
	}
	return true
}

// ulpOf returns the spacing of float32 numbers at the magnitude of x.
func ulpOf(x float64) float64 {
	x = math.Abs(x)
	if x < 0x1p-126 {
		return 0x1p-149
	}
	_, e := math.Frexp(x) // x = f * 2^e with f in [0.5, 1)
	return math.Ldexp(1, e-24)
}

// ulpErr returns how many float32 ulps got is from the exact value want. An
// infinite result is exact where want rounds to infinity and counts as 2^128,
// one ulp past the largest float32, elsewhere; NaN must match NaN.
func ulpErr(got float32, want float64) float64 {
	switch {
	case math.IsNaN(want) || got != got:
		if math.IsNaN(want) && got != got {
			return 0
		}
		return math.Inf(1)
	case math.IsInf(want, 0):
		if float64(got) == want {
			return 0
		}
		return math.Inf(1)
	}
	g := float64(got)
	if math.IsInf(g, 0) {
		if math.Abs(want) >= 0x1p128-0x1p103 && math.Signbit(want) == math.Signbit(g) {
			return 0 // want rounds to the same infinity
		}
		g = math.Copysign(0x1p128, g)
	}
	return math.Abs(g-want) / ulpOf(want)
}

// inDelta is assert.InDeltaf with a fast path for the common case, for
// loops over many elements.
func inDelta(t *testing.T, want, got, delta float64, msg string, args ...any) bool {
	t.Helper()
	if math.Abs(want-got) <= delta {
		return true
	}
	return assert.InDeltaf(t, want, got, delta, msg, args...)
}

// assertPanicsMentioning checks that fn panics with a string that contains
// every one of parts.
func assertPanicsMentioning(t *testing.T, fn func(), parts ...string) {
	t.Helper()
	var msg any
	func() {
		defer func() { msg = recover() }()
		fn()
	}()
	if !assert.NotNil(t, msg, "expected a panic mentioning %q", parts) {
		return
	}
	s := fmt.Sprint(msg)
	for _, p := range parts {
		assert.Contains(t, s, p)
	}
}

func TestBinaryKernelsExact(t *testing.T) {
	ops := []struct {
		name string
		fn   func(dst, a, b []float32)
		ref  func(a, b float64) float64
	}{
		{"Add", Add, func(a, b float64) float64 { return a + b }},
		{"Sub", Sub, func(a, b float64) float64 { return a - b }},
		{"Mul", Mul, func(a, b float64) float64 { return a * b }},
		{"Div", Div, func(a, b float64) float64 { return a / b }},
	}
	// A float32 +, -, * or / rounds the exact result once, as rounding the
	// float64 result (exact for +, -, *; correctly rounded for /) does.
	onEveryPath(t, func(t *testing.T) {
		r := newTestRand(1)
		for _, op := range ops {
			for _, n := range vecLengths {
				a := uniformSlice(r, n, -100, 100)
				b := uniformSlice(r, n, -4, 4)
				want := make([]float32, n)
				for i := range want {
					want[i] = float32(op.ref(float64(a[i]), float64(b[i])))
				}
				what := fmt.Sprintf("%s n=%d", op.name, n)
				dst := make([]float32, n)
				op.fn(dst, a, b)
				assertSameSlices(t, want, dst, what)

				d := cloneF32(a)
				op.fn(d, d, b)
				assertSameSlices(t, want, d, what+" dst==a")
				d = cloneF32(b)
				op.fn(d, a, d)
				assertSameSlices(t, want, d, what+" dst==b")
			}
		}
	})
}

func TestBinaryKernelsSpecialValues(t *testing.T) {
	inf := float32(math.Inf(1))
	nan := float32(math.NaN())
	vals := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 0x1p-149, 3e38, -3e38, inf, -inf, nan, 1e-30}
	var a, b []float32
	for _, x := range vals {
		for _, y := range vals {
			a = append(a, x)
			b = append(b, y)
		}
	}
	ops := []struct {
		name string
		fn   func(dst, a, b []float32)
		ref  func(a, b float32) float32
	}{
		{"Add", Add, func(a, b float32) float32 { return a + b }},
		{"Sub", Sub, func(a, b float32) float32 { return a - b }},
		{"Mul", Mul, func(a, b float32) float32 { return a * b }},
		{"Div", Div, func(a, b float32) float32 { return a / b }},
	}
	onEveryPath(t, func(t *testing.T) {
		for _, op := range ops {
			want := make([]float32, len(a))
			for i := range want {
				want[i] = op.ref(a[i], b[i])
			}
			dst := make([]float32, len(a))
			op.fn(dst, a, b)
			assertSameSlices(t, want, dst, op.name)
		}
	})
}

func TestScale(t *testing.T) {
	onEveryPath(t, func(t *testing.T) {
		r := newTestRand(2)
		for _, n := range vecLengths {
			a := uniformSlice(r, n, -100, 100)
			s := float32(-1.7)
			want := make([]float32, n)
			for i := range want {
				want[i] = s * a[i]
			}
			dst := make([]float32, n)
			Scale(dst, a, s)
			assertSameSlices(t, want, dst, fmt.Sprintf("Scale n=%d", n))
			Scale(a, a, s)
			assertSameSlices(t, want, a, fmt.Sprintf("Scale n=%d dst==a", n))
		}
	})
}

func TestAxpy(t *testing.T) {
	onEveryPath(t, func(t *testing.T) {
		r := newTestRand(3)
		for _, n := range vecLengths {
			d := uniformSlice(r, n, -10, 10)
			x := uniformSlice(r, n, -10, 10)
			alpha := float32(0.37)
			got := cloneF32(d)
			Axpy(got, alpha, x)
			for i := range got {
				ax := float64(alpha) * float64(x[i])
				want := float64(d[i]) + ax
				// One rounding of the product and one of the sum, or one
				// fused rounding: within 2^-23 of the magnitudes involved.
				tol := epsF32 * (math.Abs(ax) + math.Abs(want))
				if !inDelta(t, want, float64(got[i]), tol, "Axpy n=%d i=%d", n, i) {
					break
				}
			}
			// x aliasing dst doubles it (to within rounding).
			y := cloneF32(x)
			Axpy(y, 1, y)
			for i := range y {
				if y[i] != 2*x[i] {
					assert.Failf(t, "Axpy(x, 1, x) is not 2x", "n=%d i=%d: %g, want %g", n, i, y[i], 2*x[i])
					break
				}
			}
		}
	})
}

// The transcendental kernels are compared with float64 math on the same
// float32 inputs. These bounds hold for every path; the tests log the largest
// error they see on random inputs (go test -v).
const (
	expMaxUlp     = 1.5
	tanhMaxUlp    = 2
	sigmoidMaxUlp = 3
)

// specialInputs are the values every transcendental kernel is tried on.
func specialInputs() []float32 {
	inf := float32(math.Inf(1))
	v := []float32{0, float32(math.Copysign(0, -1)), 0x1p-149, -0x1p-149, 1e-30, -1e-30, 1e-7, -1e-7,
		0.5, -0.5, 0.625, -0.625, 1, -1, 2, -2, 9, -9, 20, -20, 50, -50, 87, -87, 87.33, -87.33,
		88, 88.72283, 88.72284, 88.7229, 89, -88, -89, -100, -103, -103.97, -104, -110,
		1000, -1000, 3e38, -3e38, inf, -inf, float32(math.NaN())}
	return v
}

func checkUnaryUlp(t *testing.T, name string, fn func(dst, a []float32), ref func(float64) float64, in []float32, maxUlp float64) float64 {
	t.Helper()
	got := make([]float32, len(in))
	fn(got, in)
	worst := 0.0
	for i, x := range in {
		e := ulpErr(got[i], ref(float64(x)))
		if e > maxUlp {
			assert.Failf(t, "too inaccurate", "%s(%g) = %g, want %g: %.2f ulp, more than %g", name, x, got[i], ref(float64(x)), e, maxUlp)
			return e
		}
		worst = max(worst, e)
	}
	// In place gives the same bits.
	d := cloneF32(in)
	fn(d, d)
	assertSameSlices(t, got, d, name+" in place")
	return worst
}

func expRef(x float64) float64 { return math.Exp(x) }

func tanhRef(x float64) float64 { return math.Tanh(x) }

func sigmoidRef(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

func TestExpAccuracy(t *testing.T) {
	onEveryPath(t, func(t *testing.T) {
		r := newTestRand(4)
		checkUnaryUlp(t, "Exp", Exp, expRef, specialInputs(), expMaxUlp)
		worst := 0.0
		for _, n := range vecLengths {
			worst = max(worst, checkUnaryUlp(t, "Exp", Exp, expRef, uniformSlice(r, n, -105, 89), expMaxUlp))
			worst = max(worst, checkUnaryUlp(t, "Exp", Exp, expRef, uniformSlice(r, n, -1, 1), expMaxUlp))
		}
		t.Logf("%s: largest Exp error on random inputs %.3f ulp", Path(), worst)
	})
}

func TestExpSpecialValues(t *testing.T) {
	onEveryPath(t, func(t *testing.T) {
		in := []float32{float32(math.Inf(-1)), -1000, -110, float32(math.Inf(1)), 89, 1000, float32(math.NaN()), 0}
		got := make([]float32, len(in))
		Exp(got, in)
		assert.Equal(t, []float32{0, 0, 0}, got[:3], "underflow to 0")
		for _, v := range got[3:6] {
			assert.True(t, math.IsInf(float64(v), 1), "overflow to +Inf, got %g", v)
		}
		assert.True(t, math.IsNaN(float64(got[6])), "NaN stays NaN")
		assert.Equal(t, float32(1), got[7])
		// exp(-100) is a subnormal float32; it must not be flushed to zero.
		Exp(got[:1], []float32{-100})
		assert.InDelta(t, math.Exp(-100), float64(got[0]), 2*0x1p-149)
	})
}

func TestTanhAccuracy(t *testing.T) {
	onEveryPath(t, func(t *testing.T) {
		r := newTestRand(5)
		checkUnaryUlp(t, "Tanh", Tanh, tanhRef, specialInputs(), tanhMaxUlp)
		worst := 0.0
		for _, n := range vecLengths {
			worst = max(worst, checkUnaryUlp(t, "Tanh", Tanh, tanhRef, uniformSlice(r, n, -12, 12), tanhMaxUlp))
			worst = max(worst, checkUnaryUlp(t, "Tanh", Tanh, tanhRef, uniformSlice(r, n, -1, 1), tanhMaxUlp))
			worst = max(worst, checkUnaryUlp(t, "Tanh", Tanh, tanhRef, uniformSlice(r, n, -1e-3, 1e-3), tanhMaxUlp))
		}
		t.Logf("%s: largest Tanh error on random inputs %.3f ulp", Path(), worst)
		got := make([]float32, 4)
		Tanh(got, []float32{20, -20, float32(math.Inf(1)), float32(math.Inf(-1))})
		assert.Equal(t, []float32{1, -1, 1, -1}, got)
	})
}

func TestSigmoidAccuracy(t *testing.T) {
	onEveryPath(t, func(t *testing.T) {
		r := newTestRand(6)
		checkUnaryUlp(t, "Sigmoid", Sigmoid, sigmoidRef, specialInputs(), sigmoidMaxUlp)
		worst := 0.0
		for _, n := range vecLengths {
			worst = max(worst, checkUnaryUlp(t, "Sigmoid", Sigmoid, sigmoidRef, uniformSlice(r, n, -30, 30), sigmoidMaxUlp))
			worst = max(worst, checkUnaryUlp(t, "Sigmoid", Sigmoid, sigmoidRef, uniformSlice(r, n, -120, 20), sigmoidMaxUlp))
		}
		t.Logf("%s: largest Sigmoid error on random inputs %.3f ulp", Path(), worst)
		got := make([]float32, 2)
		Sigmoid(got, []float32{20, -20})
		assert.Equal(t, float32(1), got[0])
		assert.InDelta(t, sigmoidRef(-20), float64(got[1]), 4*ulpOf(sigmoidRef(-20)))
	})
}

// geluRef and geluGradRef are the tanh-approximation GELU and its
// derivative in float64, in the form x sigmoid(2u) that does not cancel for
// negative x.
func geluRef(x float64) float64 {
	return x / (1 + math.Exp(-2*geluC*(x+geluA*x*x*x)))
}

// geluGradRef also returns the size of the two terms of the derivative, which
// cancel near x = -0.75.
func geluGradRef(x float64) (d, terms float64) {
	e := math.Exp(-2 * geluC * (x + geluA*x*x*x))
	s := 1 / (1 + e)
	q := 0.0
	if !math.IsInf(e, 1) {
		q = s * (e * s)
	}
	t := q * x * 2 * geluC * (1 + 3*geluA*x*x)
	return s + t, s + math.Abs(t)
}

// geluTol is the error allowed in Gelu(x) and its derivative: a few ulps,
// plus what rounding the argument u = sqrt(2/pi)(x + 0.044715x³) of the
// sigmoid costs where the result is exponentially small (x far below 0),
// which grows with |u|.
func geluTol(x, want float64) float64 {
	u := geluC * (x + geluA*x*x*x)
	return ulpOf(want) * (4 + 3*math.Abs(u))
}

func TestGelu(t *testing.T) {
	onEveryPath(t, func(t *testing.T) {
		r := newTestRand(7)
		inputs := [][]float32{specialInputs()}
		for _, n := range vecLengths {
			inputs = append(inputs, uniformSlice(r, n, -12, 12), normalSlice(r, n, 0, 1))
		}
		worst := 0.0
		for _, in := range inputs {
			got := make([]float32, len(in))
			Gelu(got, in)
			for i, x := range in {
				want := geluRef(float64(x))
				if math.IsInf(float64(x), 0) || math.IsNaN(float64(x)) {
					continue // checked below
				}
				if !inDelta(t, want, float64(got[i]), geluTol(float64(x), want), "Gelu(%g)", x) {
					break
				}
				if x > -4.7 {
					worst = max(worst, ulpErr(got[i], want))
				}
			}
			d := cloneF32(in)
			Gelu(d, d)
			assertSameSlices(t, got, d, "Gelu in place")
		}
		t.Logf("%s: largest Gelu error for x > -4.7: %.3f ulp", Path(), worst)
		got := make([]float32, 5)
		Gelu(got, []float32{20, -20, float32(math.Inf(1)), float32(math.NaN()), 0})
		assert.Equal(t, float32(20), got[0])
		assert.Equal(t, float32(0), got[1]) // -0 or +0
		assert.True(t, math.IsInf(float64(got[2]), 1))
		assert.True(t, math.IsNaN(float64(got[3])))
		assert.Equal(t, float32(0), got[4])
	})
}

func TestGeluBackward(t *testing.T) {
	onEveryPath(t, func(t *testing.T) {
		r := newTestRand(8)
		worst := 0.0
		for _, n := range vecLengths {
			for _, x := range [][]float32{uniformSlice(r, n, -12, 12), normalSlice(r, n, 0, 1.5)} {
				dy := uniformSlice(r, n, -2, 2)
				got := make([]float32, n)
				GeluBackward(got, x, dy)
				for i := range got {
					d, terms := geluGradRef(float64(x[i]))
					want := d * float64(dy[i])
					// The derivative is rounded to float32 before the multiply.
					// Below the normal range, the few roundings inside are
					// each worth up to half a subnormal ulp: allow 2^-140.
					tol := (geluTol(float64(x[i]), d)+4*epsF32*terms+0x1p-140)*math.Abs(float64(dy[i])) + ulpOf(want)
					if !inDelta(t, want, float64(got[i]), tol, "GeluBackward(x=%g, dy=%g) n=%d", x[i], dy[i], n) {
						break
					}
					if dy[i] != 0 && terms > 0x1p-100 {
						// In ulps of the larger term of the derivative.
						worst = max(worst, math.Abs(float64(got[i])-want)/(ulpOf(terms)*math.Abs(float64(dy[i]))))
					}
				}
				d := cloneF32(dy)
				GeluBackward(d, x, d)
				assertSameSlices(t, got, d, "GeluBackward dx==dy")
			}
		}
		t.Logf("%s: largest GeluBackward error: %.3f ulp of the larger term", Path(), worst)
		got := make([]float32, 4)
		GeluBackward(got, []float32{20, -20, 0, float32(math.NaN())}, []float32{1, 1, 1, 1})
		assert.Equal(t, float32(1), got[0])
		assert.Equal(t, float32(0), got[1])
		assert.Equal(t, float32(0.5), got[2])
		assert.True(t, math.IsNaN(float64(got[3])))
	})
}

func TestFiniteDifferencesOfGelu(t *testing.T) {
	// The backward kernel is the derivative of the forward kernel.
	onEveryPath(t, func(t *testing.T) {
		for _, x := range []float64{-4, -2.5, -1, -0.3, 0, 0.2, 0.9, 1.7, 3} {
			h := 1e-3
			in := []float32{float32(x + h), float32(x - h)}
			out := make([]float32, 2)
			Gelu(out, in)
			fd := (float64(out[0]) - float64(out[1])) / (float64(in[0]) - float64(in[1]))
			dx := make([]float32, 1)
			GeluBackward(dx, []float32{float32(x)}, []float32{1})
			assert.InDeltaf(t, fd, float64(dx[0]), 2e-3, "x=%g", x)
		}
	})
}

func TestElementwiseThreadsDoNotChangeResults(t *testing.T) {
	r := newTestRand(9)
	n := 7*elemGrain + 5
	a := uniformSlice(r, n, -5, 5)
	b := uniformSlice(r, n, 0.5, 5)
	kernels := map[string]func(dst []float32){
		"Add":          func(d []float32) { Add(d, a, b) },
		"Sub":          func(d []float32) { Sub(d, a, b) },
		"Mul":          func(d []float32) { Mul(d, a, b) },
		"Div":          func(d []float32) { Div(d, a, b) },
		"Scale":        func(d []float32) { Scale(d, a, 3) },
		"Axpy":         func(d []float32) { copy(d, b); Axpy(d, 0.5, a) },
		"Exp":          func(d []float32) { Exp(d, a) },
		"Tanh":         func(d []float32) { Tanh(d, a) },
		"Sigmoid":      func(d []float32) { Sigmoid(d, a) },
		"Gelu":         func(d []float32) { Gelu(d, a) },
		"GeluBackward": func(d []float32) { GeluBackward(d, a, b) },
	}
	onEveryPath(t, func(t *testing.T) {
		for name, k := range kernels {
			one, two := make([]float32, n), make([]float32, n)
			withThreads(1, func() { k(one) })
			withThreads(2, func() { k(two) })
			assertSameSlices(t, one, two, name)
		}
	})
}

func TestElementwiseLengthMismatchPanics(t *testing.T) {
	a, b := make([]float32, 4), make([]float32, 5)
	cases := map[string]func(){
		"kernels.Add":          func() { Add(a, a, b) },
		"kernels.Sub":          func() { Sub(b, a, a) },
		"kernels.Mul":          func() { Mul(a, b, a) },
		"kernels.Div":          func() { Div(a, a, b) },
		"kernels.Scale":        func() { Scale(a, b, 2) },
		"kernels.Axpy":         func() { Axpy(a, 2, b) },
		"kernels.Exp":          func() { Exp(a, b) },
		"kernels.Tanh":         func() { Tanh(b, a) },
		"kernels.Sigmoid":      func() { Sigmoid(a, b) },
		"kernels.Gelu":         func() { Gelu(a, b) },
		"kernels.GeluBackward": func() { GeluBackward(a, a, b) },
	}
	for name, fn := range cases {
		t.Run(strings.TrimPrefix(name, "kernels."), func(t *testing.T) {
			assertPanicsMentioning(t, fn, name+":", "length mismatch", "4", "5")
		})
	}
}

func TestSmallCallsDoNotAllocate(t *testing.T) {
	// Calls that stay on one thread must not allocate: a training step makes
	// many of them.
	const rows, cols = 4, 33
	n := rows * cols
	r := newTestRand(30)
	a, b, d := normalSlice(r, n, 0, 1), uniformSlice(r, n, 0.5, 2), make([]float32, n)
	gamma, beta, dg, db := normalSlice(r, cols, 1, 0.1), normalSlice(r, cols, 0, 0.1), make([]float32, cols), make([]float32, cols)
	mean, rstd := make([]float32, rows), make([]float32, rows)
	p, g, m, v := adamWState(31, n)
	onEveryPath(t, func(t *testing.T) {
		allocs := testing.AllocsPerRun(5, func() {
			Add(d, a, b)
			Sub(d, a, b)
			Mul(d, a, b)
			Div(d, a, b)
			Scale(d, a, 2)
			Axpy(d, 2, a)
			_, _, _ = Sum(a), Dot(a, b), Max(a)
			Exp(d, a)
			Tanh(d, a)
			Sigmoid(d, a)
			Gelu(d, a)
			GeluBackward(d, a, b)
			SoftmaxRows(d, a, rows, cols)
			LogSoftmaxRows(d, a, rows, cols)
			SoftmaxRowsBackward(d, a, b, rows, cols)
			LogSoftmaxRowsBackward(d, a, b, rows, cols)
			LayerNorm(d, mean, rstd, a, gamma, beta, rows, cols, 1e-5)
			LayerNormBackward(d, dg, db, b, a, mean, rstd, gamma, rows, cols)
			RMSNorm(d, rstd, a, gamma, rows, cols, 1e-5)
			RMSNormBackward(d, dg, b, a, rstd, gamma, rows, cols)
			AdamW(p, g, m, v, adamWSettings[0])
			Lion(p, g, m, LionParams{LR: 1e-4, Beta1: 0.9, Beta2: 0.99, Decay: 1})
		})
		assert.Zero(t, allocs)
	})
}
