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

func geluGeneric(dst, a []float32) {
	a = a[:len(dst)]
	for i := range dst {
		x := float64(a[i])
		dst[i] = float32(0.5 * x * (1 + math.Tanh(geluC*(x+geluA*x*x*x))))
	}
}

func geluBackwardGeneric(dx, x, dy []float32) {
	x = x[:len(dx)]
	dy = dy[:len(dx)]
	for i := range dx {
		v := float64(x[i])
		t := math.Tanh(geluC * (v + geluA*v*v*v))
		d := 0.5*(1+t) + 0.5*v*(1-t*t)*geluC*(1+3*geluA*v*v)
		dx[i] = float32(d) * dy[i]
	}
}
