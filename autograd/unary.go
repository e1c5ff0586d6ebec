package autograd

import (
	"math"

	"github.com/kiln-ml/kiln/kernels"
	"github.com/kiln-ml/kiln/tensor"
)

// unaryOp applies a kernel fwd(dst, src) and records bwd(dx, x, y, g), which
// must overwrite dx with the gradient of the input.
func unaryOp(name string, x *Var, fwd func(dst, src []float32), bwd func(dx, x, y, g []float32)) *Var {
	t := tapeOf(name, x)
	xv := contig(t, x.value)
	out := t.alloc(xv.Shape()...)
	fwd(out.Data(), xv.Data())
	r := t.result(out)
	if r.record(x) {
		r.backward = func(g *tensor.Tensor) {
			x.accumulateFn(t, func(dx []float32) { bwd(dx, xv.Data(), out.Data(), g.Data()) })
		}
	}
	return r
}

// mapOp is unaryOp for scalar functions: f(x) and df(x, y, g) = g * f'(x).
func mapOp(name string, x *Var, f func(float32) float32, df func(x, y, g float32) float32) *Var {
	return unaryOp(name, x,
		func(dst, src []float32) {
			for i, v := range src {
				dst[i] = f(v)
			}
		},
		func(dx, x, y, g []float32) {
			for i := range dx {
				dx[i] = df(x[i], y[i], g[i])
			}
		})
}

// Exp returns e^x elementwise.
func Exp(x *Var) *Var {
	return unaryOp("Exp", x, kernels.Exp, func(dx, _, y, g []float32) { kernels.Mul(dx, g, y) })
}

// Log returns the natural logarithm elementwise.
func Log(x *Var) *Var {
	return unaryOp("Log", x,
		func(dst, src []float32) {
			for i, v := range src {
				dst[i] = float32(math.Log(float64(v)))
			}
		},
		func(dx, x, _, g []float32) { kernels.Div(dx, g, x) })
}

// Sqrt returns the square root elementwise.
func Sqrt(x *Var) *Var {
	return mapOp("Sqrt", x, func(v float32) float32 { return float32(math.Sqrt(float64(v))) },
		func(_, y, g float32) float32 { return g * 0.5 / y })
}

// Abs returns |x| elementwise (gradient sign(x), 0 at 0).
func Abs(x *Var) *Var {
	return mapOp("Abs", x, func(v float32) float32 { return float32(math.Abs(float64(v))) },
		func(x, _, g float32) float32 {
			switch {
			case x > 0:
				return g
			case x < 0:
				return -g
			}
			return 0
		})
}

// Clamp limits x to [lo, hi]; the gradient passes where lo <= x <= hi.
func Clamp(x *Var, lo, hi float32) *Var {
	return mapOp("Clamp", x, func(v float32) float32 { return min(max(v, lo), hi) },
		func(x, _, g float32) float32 {
			if x < lo || x > hi {
				return 0
			}
			return g
		})
}

// Tanh returns tanh(x) elementwise.
func Tanh(x *Var) *Var {
	return unaryOp("Tanh", x, kernels.Tanh, func(dx, _, y, g []float32) {
		for i := range dx {
			dx[i] = g[i] * (1 - y[i]*y[i])
		}
	})
}

// Sigmoid returns 1/(1+e^-x) elementwise.
func Sigmoid(x *Var) *Var {
	return unaryOp("Sigmoid", x, kernels.Sigmoid, func(dx, _, y, g []float32) {
		for i := range dx {
			dx[i] = g[i] * y[i] * (1 - y[i])
		}
	})
}

// ReLU returns max(x, 0) elementwise.
func ReLU(x *Var) *Var {
	return mapOp("ReLU", x, func(v float32) float32 { return max(v, 0) },
		func(x, _, g float32) float32 {
			if x > 0 {
				return g
			}
			return 0
		})
}

// GELU returns the tanh approximation of the Gaussian error linear unit used
// by GPT-2: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
func GELU(x *Var) *Var {
	return unaryOp("GELU", x, kernels.Gelu, func(dx, x, _, g []float32) { kernels.GeluBackward(dx, x, g) })
}

// GELUErf returns the exact Gaussian error linear unit x * Phi(x).
func GELUErf(x *Var) *Var {
	return mapOp("GELUErf", x,
		func(v float32) float32 {
			x := float64(v)
			return float32(0.5 * x * (1 + math.Erf(x/math.Sqrt2)))
		},
		func(v, _, g float32) float32 {
			x := float64(v)
			cdf := 0.5 * (1 + math.Erf(x/math.Sqrt2))
			pdf := math.Exp(-0.5*x*x) / math.Sqrt(2*math.Pi)
			return g * float32(cdf+x*pdf)
		})
}

// softplus64 is log(1+e^x) without overflow.
func softplus64(x float64) float64 { return math.Max(x, 0) + math.Log1p(math.Exp(-math.Abs(x))) }

func sigmoid64(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// Softplus returns log(1 + e^x) elementwise, computed without overflow.
func Softplus(x *Var) *Var {
	return mapOp("Softplus", x, func(v float32) float32 { return float32(softplus64(float64(v))) },
		func(v, _, g float32) float32 { return g * float32(sigmoid64(float64(v))) })
}

// LogSigmoid returns log(sigmoid(x)) = -softplus(-x) elementwise, stably.
func LogSigmoid(x *Var) *Var {
	return mapOp("LogSigmoid", x, func(v float32) float32 { return float32(-softplus64(-float64(v))) },
		func(v, _, g float32) float32 { return g * float32(sigmoid64(-float64(v))) })
}
