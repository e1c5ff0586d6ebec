package kernels

import "math"

func addGeneric(dst, a, b []float32) {
	b = b[:len(dst)]
	a = a[:len(dst)]
	for i := range dst {
		dst[i] = a[i] + b[i]
	}
}

func subGeneric(dst, a, b []float32) {
	b = b[:len(dst)]
	a = a[:len(dst)]
	for i := range dst {
		dst[i] = a[i] - b[i]
	}
}

func mulGeneric(dst, a, b []float32) {
	b = b[:len(dst)]
	a = a[:len(dst)]
	for i := range dst {
		dst[i] = a[i] * b[i]
	}
}

func divGeneric(dst, a, b []float32) {
	b = b[:len(dst)]
	a = a[:len(dst)]
	for i := range dst {
		dst[i] = a[i] / b[i]
	}
}

func scaleGeneric(dst, a []float32, s float32) {
	a = a[:len(dst)]
	for i := range dst {
		dst[i] = s * a[i]
	}
}

func axpyGeneric(dst []float32, alpha float32, x []float32) {
	x = x[:len(dst)]
	for i := range dst {
		dst[i] += alpha * x[i]
	}
}

func expGeneric(dst, a []float32) {
	a = a[:len(dst)]
	for i := range dst {
		dst[i] = float32(math.Exp(float64(a[i])))
	}
}

func tanhGeneric(dst, a []float32) {
	a = a[:len(dst)]
	for i := range dst {
		dst[i] = float32(math.Tanh(float64(a[i])))
	}
}

func sigmoidGeneric(dst, a []float32) {
	a = a[:len(dst)]
	for i := range dst {
		x := float64(a[i])
		if x >= 0 {
			dst[i] = float32(1 / (1 + math.Exp(-x)))
		} else {
			e := math.Exp(x)
			dst[i] = float32(e / (1 + e))
		}
	}
}

const (
	geluC = 0.7978845608028654 // sqrt(2/pi)
	geluA = 0.044715
)

// The GELU kernels use 0.5 x (1 + tanh(u)) = x sigmoid(2u): 1 + tanh(u)
// cancels for negative x (even in float64, where it is 0 below x = -8 while
// the true value is still a normal float32).

func geluGeneric(dst, a []float32) {
	a = a[:len(dst)]
	for i := range dst {
		x := float64(a[i])
		e := math.Exp(-2 * geluC * (x + geluA*x*x*x))
		dst[i] = float32(x / (1 + e))
	}
}

// geluBackwardGeneric uses d/dx [x sigmoid(2u)] = s + s(1-s) x 2u', with
// s = sigmoid(2u) = 1/(1+e), 1-s = e s and e = exp(-2u).
func geluBackwardGeneric(dx, x, dy []float32) {
	x = x[:len(dx)]
	dy = dy[:len(dx)]
	for i := range dx {
		v := float64(x[i])
		e := math.Exp(-2 * geluC * (v + geluA*v*v*v))
		s := 1 / (1 + e)
		var q float64 // s(1-s); 0 when e overflows
		if !math.IsInf(e, 1) {
			q = s * (e * s)
		}
		d := s + q*v*2*geluC*(1+3*geluA*v*v)
		dx[i] = float32(d) * dy[i]
	}
}
