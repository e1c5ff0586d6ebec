package optim

import (
	"math"
)

// A float64 re-statement of the low-rank step for one matrix over one
// projector period (the factors fixed, as given), after
// shared/specs/optimizers_golden.py, extended to the bases and options the
// golden values do not cover. Tests take the factors from the optimizer's
// first refresh and compare the weights.
type lrRef struct {
	right         bool        // right projection (R = G·Qᵀ) or left (R = Pᵀ·G)
	f             [][]float64 // Q (r x n) or P (m x r)
	base          string      // "adamw-hf", "adamw", "adam" or "lion"
	lr, wd, alpha float64
	b1, b2, eps   float64
	fira          bool
	gamma         float64
	matrixScaling bool
	paperResidual bool

	m, v [][]float64
	t    int
	prev float64
}

func lrMatMul(a, b [][]float64) [][]float64 {
	out := make([][]float64, len(a))
	for i := range a {
		out[i] = make([]float64, len(b[0]))
		for j := range b[0] {
			for k := range b {
				out[i][j] += a[i][k] * b[k][j]
			}
		}
	}
	return out
}

func lrZeros(r, c int) [][]float64 {
	out := make([][]float64, r)
	for i := range out {
		out[i] = make([]float64, c)
	}
	return out
}

func lrNorm(a [][]float64) float64 {
	s := 0.0
	for _, row := range a {
		for _, x := range row {
			s += x * x
		}
	}
	return math.Sqrt(s)
}

func (s *lrRef) project(g [][]float64) [][]float64 {
	if s.right {
		return lrMatMul(g, lrTranspose(s.f))
	}
	return lrMatMul(lrTranspose(s.f), g)
}

func (s *lrRef) back(n [][]float64) [][]float64 {
	var b [][]float64
	if s.right {
		b = lrMatMul(n, s.f)
	} else {
		b = lrMatMul(s.f, n)
	}
	for _, row := range b {
		for j := range row {
			row[j] *= s.alpha
		}
	}
	return b
}

// step applies one step to w in place.
func (s *lrRef) step(w, g [][]float64) {
	rows, cols := len(w), len(w[0])
	if s.base == "adam" && s.wd != 0 { // coupled: g + wd·w
		g2 := lrZeros(rows, cols)
		for i := range g2 {
			for j := range g2[i] {
				g2[i][j] = g[i][j] + s.wd*w[i][j]
			}
		}
		g = g2
	}
	r := s.project(g)
	if s.m == nil {
		s.m, s.v = lrZeros(len(r), len(r[0])), lrZeros(len(r), len(r[0]))
	}
	s.t++
	t := float64(s.t)
	bc1, bc2 := 1-math.Pow(s.b1, t), 1-math.Pow(s.b2, t)
	n := lrZeros(len(r), len(r[0]))
	var ss float64
	for i := range r {
		for j := range r[i] {
			x := r[i][j]
			switch s.base {
			case "lion":
				c := s.b1*s.m[i][j] + (1-s.b1)*x
				n[i][j] = float64(sgnf(c))
				s.m[i][j] = s.b2*s.m[i][j] + (1-s.b2)*x
				ss = s.lr
				continue
			}
			s.m[i][j] = s.b1*s.m[i][j] + (1-s.b1)*x
			s.v[i][j] = s.b2*s.v[i][j] + (1-s.b2)*x*x
			switch s.base {
			case "adamw-hf":
				n[i][j] = s.m[i][j] / (math.Sqrt(s.v[i][j]) + s.eps)
				ss = s.lr * math.Sqrt(bc2) / bc1
			default: // torch
				n[i][j] = s.m[i][j] / (math.Sqrt(s.v[i][j])/math.Sqrt(bc2) + s.eps)
				ss = s.lr / bc1
			}
		}
	}
	if (s.base == "adamw" || s.base == "lion") && s.wd != 0 {
		for _, row := range w {
			for j := range row {
				row[j] *= 1 - s.lr*s.wd
			}
		}
	}
	u := s.back(n)
	if s.fira {
		sub := s.back(r)
		if s.paperResidual {
			for _, row := range sub {
				for j := range row {
					row[j] /= s.alpha
				}
			}
		}
		sg := lrZeros(rows, cols)
		phi := func(i, j int) float64 {
			switch {
			case s.matrixScaling:
				return lrNorm(n) / (lrNorm(r) + 1e-8)
			case s.right:
				return lrNorm(n[i:i+1]) / (lrNorm(r[i:i+1]) + 1e-8)
			default:
				return lrNorm(lrTranspose(n)[j:j+1]) / (lrNorm(lrTranspose(r)[j:j+1]) + 1e-8)
			}
		}
		for i := range sg {
			for j := range sg[i] {
				sg[i][j] = (g[i][j] - sub[i][j]) * phi(i, j)
			}
		}
		ns := lrNorm(sg)
		if s.t > 1 {
			lim := math.Max(ns/(s.prev+1e-8), s.gamma) / s.gamma
			for _, row := range sg {
				for j := range row {
					row[j] /= lim
				}
			}
			ns /= lim
		}
		s.prev = ns
		for i := range u {
			for j := range u[i] {
				u[i][j] += sg[i][j]
			}
		}
	}
	for i := range w {
		for j := range w[i] {
			w[i][j] -= ss * u[i][j]
		}
	}
	if s.base == "adamw-hf" && s.wd > 0 {
		for _, row := range w {
			for j := range row {
				row[j] -= s.lr * s.wd * row[j]
			}
		}
	}
}

func sgnf(x float64) int {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return 0
}
