package kernels

import "fmt"

// Elementwise kernels work on equal-length slices; dst may alias an input.
// Large inputs are split over threads in fixed blocks.

const elemGrain = 16384

func check2(op string, dst, a []float32) {
	if len(dst) != len(a) {
		panic(fmt.Sprintf("kernels.%s: length mismatch: dst %d, src %d", op, len(dst), len(a)))
	}
}

func check3(op string, dst, a, b []float32) {
	if len(dst) != len(a) || len(a) != len(b) {
		panic(fmt.Sprintf("kernels.%s: length mismatch: dst %d, a %d, b %d", op, len(dst), len(a), len(b)))
	}
}

func binary(f func(dst, a, b []float32), dst, a, b []float32) {
	if len(dst) < 2*elemGrain {
		f(dst, a, b)
		return
	}
	parallelFor(len(dst), elemGrain, func(lo, hi int) { f(dst[lo:hi], a[lo:hi], b[lo:hi]) })
}

func unary(f func(dst, a []float32), dst, a []float32) {
	if len(dst) < 2*elemGrain {
		f(dst, a)
		return
	}
	parallelFor(len(dst), elemGrain, func(lo, hi int) { f(dst[lo:hi], a[lo:hi]) })
}

// Add sets dst[i] = a[i] + b[i].
func Add(dst, a, b []float32) { check3("Add", dst, a, b); binary(active.add, dst, a, b) }

// Sub sets dst[i] = a[i] - b[i].
func Sub(dst, a, b []float32) { check3("Sub", dst, a, b); binary(active.sub, dst, a, b) }

// Mul sets dst[i] = a[i] * b[i].
func Mul(dst, a, b []float32) { check3("Mul", dst, a, b); binary(active.mul, dst, a, b) }

// Div sets dst[i] = a[i] / b[i].
func Div(dst, a, b []float32) { check3("Div", dst, a, b); binary(active.div, dst, a, b) }

// Scale sets dst[i] = s * a[i].
func Scale(dst, a []float32, s float32) {
	check2("Scale", dst, a)
	f := active.scale
	if len(dst) < 2*elemGrain {
		f(dst, a, s) // no closure: small calls do not allocate
		return
	}
	parallelFor(len(dst), elemGrain, func(lo, hi int) { f(dst[lo:hi], a[lo:hi], s) })
}

// Axpy sets dst[i] += alpha * x[i].
func Axpy(dst []float32, alpha float32, x []float32) {
	check2("Axpy", dst, x)
	f := active.axpy
	if len(dst) < 2*elemGrain {
		f(dst, alpha, x)
		return
	}
	parallelFor(len(dst), elemGrain, func(lo, hi int) { f(dst[lo:hi], alpha, x[lo:hi]) })
}

// Exp sets dst[i] = exp(a[i]).
func Exp(dst, a []float32) { check2("Exp", dst, a); unary(active.exp, dst, a) }

// Tanh sets dst[i] = tanh(a[i]).
func Tanh(dst, a []float32) { check2("Tanh", dst, a); unary(active.tanh, dst, a) }

// Sigmoid sets dst[i] = 1 / (1 + exp(-a[i])).
func Sigmoid(dst, a []float32) { check2("Sigmoid", dst, a); unary(active.sigmoid, dst, a) }

// Gelu sets dst[i] to the tanh approximation of GELU used by GPT-2:
// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
func Gelu(dst, a []float32) { check2("Gelu", dst, a); unary(active.gelu, dst, a) }

// GeluBackward sets dx[i] = dy[i] * d/dx Gelu(x[i]) (tanh approximation).
func GeluBackward(dx, x, dy []float32) {
	check3("GeluBackward", dx, x, dy)
	binary(active.geluBackward, dx, x, dy)
}
