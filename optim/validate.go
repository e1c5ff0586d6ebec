package optim

import (
	"fmt"
	"math"
)

// finite reports whether x is neither NaN nor infinite.
func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// checkLR checks a configured learning rate; zero takes the default.
func checkLR(lr float64) error {
	if !finite(lr) || lr < 0 {
		return fmt.Errorf("learning rate %v must be positive and finite (0 takes the default)", lr)
	}
	return nil
}

// checkBeta checks a decay rate of a moving average.
func checkBeta(name string, b float64) error {
	if !(b >= 0 && b < 1) {
		return fmt.Errorf("%s %v must be in [0, 1)", name, b)
	}
	return nil
}

// checkNonNeg checks a hyperparameter that may be zero.
func checkNonNeg(name string, x float64) error {
	if !finite(x) || x < 0 {
		return fmt.Errorf("%s %v must be finite and at least 0", name, x)
	}
	return nil
}

// checkPositive checks a hyperparameter that must be positive; a zero is
// accepted when it stands for a default.
func checkPositive(name string, x float64, zeroIsDefault bool) error {
	if zeroIsDefault && x == 0 {
		return nil
	}
	if !finite(x) || x <= 0 {
		if zeroIsDefault {
			return fmt.Errorf("%s %v must be positive and finite (0 takes the default)", name, x)
		}
		return fmt.Errorf("%s %v must be positive and finite", name, x)
	}
	return nil
}

// orDefault returns x, or def when x is zero.
func orDefault(x, def float64) float64 {
	if x == 0 {
		return def
	}
	return x
}

// betasOrDefault returns b, or the defaults when both are zero.
func betasOrDefault(b [2]float64, def1, def2 float64) [2]float64 {
	if b == [2]float64{} {
		return [2]float64{def1, def2}
	}
	return b
}

// checkLens panics unless s has slots buffers and the gradient (or
// direction) and every state buffer are as long as p.
func checkLens(op string, p, g []float32, s *TensorState, slots int) {
	if len(s.Buf) != slots {
		panic(fmt.Sprintf("%s: state has %d buffers, the core keeps %d", op, len(s.Buf), slots))
	}
	if len(g) != len(p) {
		panic(fmt.Sprintf("%s: %d gradient elements for %d parameter elements", op, len(g), len(p)))
	}
	for i, b := range s.Buf {
		if len(b) != len(p) {
			panic(fmt.Sprintf("%s: state buffer %d has %d elements for %d parameter elements", op, i, len(b), len(p)))
		}
	}
}
