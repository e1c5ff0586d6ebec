package optim

import (
	"math"

	"github.com/kiln-ml/kiln/autograd"
	"github.com/kiln-ml/kiln/kernels"
	"github.com/kiln-ml/kiln/lowrank"
)

// NewFira returns Fira ("Fira: Can We Achieve Full-rank Training of LLMs
// Under Low-rank Constraint?") over params, with the semantics of the
// official fira_adamw.py: GaLore, plus the part of the gradient the
// projection leaves out, E = G − α·back(R), added to the update after
// norm-based scaling and a norm-growth limiter:
//
//	φ = ‖N‖/(‖R‖ + 1e-8) per index of the unprojected dimension (per column
//	    of R for a left projection, per row for a right one), or per matrix
//	    with MatrixScaling
//	S = φ ⊙ E
//	from the second step on: L = max(‖S‖/(s_prev + 1e-8), γ)/γ, S ← S/L
//	s_prev = ‖S‖
//	W ← W − lr·c·(α·back(N) + S)
//
// so the residual's norm grows by at most a factor γ (cfg.Gamma, default
// 1.01) per step. PaperResidual uses E = G − back(R) instead. Fira needs a
// one-sided projection; its state is GaLore's plus s_prev (one float32) per
// matrix. Groups are as for NewGaLore; Natural GaLore settings in cfg must be
// zero.
func NewFira(params []*autograd.Var, cfg LowRankConfig, groups ...Group) (*LowRank, error) {
	return newLowRank(KindFira, "optim.NewFira", params, cfg, groups)
}

// firaGuard is the official code's absolute guard of its divisions.
const firaGuard = 1e-8

// phiMode is how Fira's scaling factors broadcast over the residual.
type phiMode uint8

const (
	phiPerRow phiMode = iota
	phiPerCol
	phiPerMatrix
)

// firaResidual adds Fira's scaled, limited residual to w: g is the gradient,
// r its projection, dir the base's direction and step = lr·c.
func (o *LowRank) firaResidual(m *lowRankMatrix, st *TensorState, w, g, r, dir []float32, step float64) {
	rows, cols := m.rows, m.cols
	e := o.work.full[:rows*cols]
	if &g[0] != &e[0] {
		copy(e, g)
	}
	rr, rc := m.proj.LowRankShape()
	back := float32(-1)
	if o.cfg.PaperResidual {
		back = float32(-1 / o.cfg.Scale)
	}
	// E = G − α·back(R), or G − back(R).
	m.proj.ProjectBackAdd(lowrank.Matrix{Rows: rows, Cols: cols, Data: e}, back, lowrank.Matrix{Rows: rr, Cols: rc, Data: r})

	phi := o.work.phi
	var mode phiMode
	switch {
	case o.cfg.MatrixScaling:
		mode = phiPerMatrix
		phi = phi[:1]
		phi[0] = float32(math.Sqrt(sumSquares(dir)) / (math.Sqrt(sumSquares(r)) + firaGuard))
	case m.proj.Side() == lowrank.SideRight: // R is rows x rank: one factor per row
		mode = phiPerRow
		phi = phi[:rows]
		for i := range rows {
			phi[i] = float32(math.Sqrt(sumSquares(dir[i*rc:(i+1)*rc])) / (math.Sqrt(sumSquares(r[i*rc:(i+1)*rc])) + firaGuard))
		}
	default: // R is rank x cols: one factor per column
		mode = phiPerCol
		phi = phi[:cols]
		cn, cr := o.work.colN[:cols], o.work.colR[:cols]
		clear(cn)
		clear(cr)
		for i := range rr {
			dRow, rRow := dir[i*rc:(i+1)*rc], r[i*rc:(i+1)*rc]
			for j := range cols {
				cn[j] += float64(dRow[j]) * float64(dRow[j])
				cr[j] += float64(rRow[j]) * float64(rRow[j])
			}
		}
		for j := range cols {
			phi[j] = float32(math.Sqrt(cn[j]) / (math.Sqrt(cr[j]) + firaGuard))
		}
	}

	f := &o.firaPass
	f.e, f.w, f.phi, f.rows, f.cols, f.mode = e, w, phi, rows, cols, mode
	f.grainRows = max(1, grain/cols)
	norm := math.Sqrt(f.sumSquares())
	limiter := 1.0
	if st.Step > 1 { // not the matrix's first step: limit the growth
		limiter = max(norm/(float64(m.prevNorm)+firaGuard), o.cfg.Gamma) / o.cfg.Gamma
	}
	m.prevNorm = float32(norm / limiter)
	m.lastNorm, m.lastLimiter = norm, limiter
	f.apply(float32(-step / limiter))
	f.e, f.w, f.phi = nil, nil, nil
}

// sumSquares returns Σx² accumulated in float64.
func sumSquares(x []float32) float64 {
	var s0, s1 float64
	i := 0
	for ; i+2 <= len(x); i += 2 {
		s0 += float64(x[i]) * float64(x[i])
		s1 += float64(x[i+1]) * float64(x[i+1])
	}
	if i < len(x) {
		s0 += float64(x[i]) * float64(x[i])
	}
	return s0 + s1
}

// firaPass runs the two passes of Fira over the residual E (rows x cols),
// split over the kernel threads in fixed blocks of rows, so that results do
// not depend on the number of threads: the sum of squares of S = φ ⊙ E, and
// the update W += c·S. Its run function is bound once, so a pass does not
// allocate.
type firaPass struct {
	e, w, phi  []float32
	rows, cols int
	mode       phiMode
	grainRows  int
	update     bool
	c          float32
	out        []float64 // sum of squares per block of rows
	run        func(lo, hi int)
}

func (f *firaPass) init() { f.run = f.body }

func (f *firaPass) start() {
	if f.rows < 2*f.grainRows {
		f.body(0, f.rows)
	} else {
		kernels.Parallel(f.rows, f.grainRows, f.run)
	}
}

// sumSquares returns ‖φ ⊙ E‖² in float64, adding block results in order.
func (f *firaPass) sumSquares() float64 {
	blocks := (f.rows + f.grainRows - 1) / f.grainRows
	if cap(f.out) < blocks {
		f.out = make([]float64, blocks)
	}
	f.out = f.out[:blocks]
	f.update = false
	f.start()
	total := 0.0
	for _, v := range f.out {
		total += v
	}
	return total
}

// apply adds c·φ ⊙ E to W.
func (f *firaPass) apply(c float32) {
	f.update, f.c = true, c
	f.start()
}

func (f *firaPass) body(lo, hi int) {
	cols := f.cols
	for b := lo; b < hi; b += f.grainRows {
		end := min(b+f.grainRows, hi)
		acc := 0.0
		for i := b; i < end; i++ {
			e := f.e[i*cols : (i+1)*cols]
			w := f.w[i*cols : (i+1)*cols]
			switch f.mode {
			case phiPerCol:
				phi := f.phi[:cols]
				if f.update {
					for j, x := range e {
						w[j] += f.c * (x * phi[j])
					}
				} else {
					for j, x := range e {
						s := float64(x * phi[j])
						acc += s * s
					}
				}
			default:
				p := f.phi[0]
				if f.mode == phiPerRow {
					p = f.phi[i]
				}
				if f.update {
					for j, x := range e {
						w[j] += f.c * (x * p)
					}
				} else {
					for _, x := range e {
						s := float64(x * p)
						acc += s * s
					}
				}
			}
		}
		if !f.update {
			f.out[b/f.grainRows] = acc
		}
	}
}
