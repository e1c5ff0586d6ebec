package lowrank

import (
	"fmt"
	"math"
	"sync"

	"github.com/kiln-ml/kiln/kernels"
)

// ProjType is the GaLore projection type ("proj_type" in the official code).
type ProjType uint8

const (
	// ProjStd projects the smaller dimension: right (R = G·Qᵀ) when m >= n,
	// left (R = Pᵀ·G) when m < n. It is the default.
	ProjStd ProjType = iota
	// ProjReverseStd projects the larger dimension: left when m >= n, right
	// when m < n.
	ProjReverseStd
	// ProjLeft always projects the left side: R = Pᵀ·G (r x n).
	ProjLeft
	// ProjRight always projects the right side: R = G·Qᵀ (m x r).
	ProjRight
	// ProjFull projects both sides: R = Pᵀ·G·Qᵀ (r x r).
	ProjFull
)

var projNames = [...]string{"std", "reverse_std", "left", "right", "full"}

// String returns the official name: "std", "reverse_std", "left", "right" or
// "full".
func (t ProjType) String() string {
	if int(t) < len(projNames) {
		return projNames[t]
	}
	return fmt.Sprintf("ProjType(%d)", uint8(t))
}

// ParseProjType parses an official projection type name.
func ParseProjType(s string) (ProjType, error) {
	for i, name := range projNames {
		if s == name {
			return ProjType(i), nil
		}
	}
	return 0, fmt.Errorf("lowrank: unknown projection type %q; want one of std, reverse_std, left, right, full", s)
}

// SideFor returns the side a projection type projects for an m x n matrix.
func (t ProjType) SideFor(m, n int) Side {
	switch t {
	case ProjStd:
		if m >= n {
			return SideRight
		}
		return SideLeft
	case ProjReverseStd:
		if m >= n {
			return SideLeft
		}
		return SideRight
	case ProjLeft:
		return SideLeft
	case ProjRight:
		return SideRight
	case ProjFull:
		return SideBoth
	}
	panic(fmt.Sprintf("lowrank.ProjType.SideFor: invalid projection type %d", uint8(t)))
}

// Defaults of ProjectorConfig, from the official GaLoreProjector.
const (
	DefaultUpdateGap = 200
	DefaultScale     = 1.0
)

// ProjectorConfig sets up a Projector.
type ProjectorConfig struct {
	// Rank is the requested rank r (required, >= 1); it is clamped to
	// min(rows, cols) and Projector.Rank reports the result.
	Rank int
	// UpdateGap is the refresh period T: the factors are recomputed from the
	// current gradient whenever Step() % T == 0. 0 means DefaultUpdateGap (200).
	UpdateGap int
	// Scale is α, applied by ProjectBack. 0 means DefaultScale (1); it must be
	// positive and finite.
	Scale float32
	// Type is the projection type; the zero value is ProjStd.
	Type ProjType
	// Randomized, if not nil, computes the factors with a RandomizedSVD of this
	// configuration (the stream is the step of the refresh) instead of the
	// exact SVD.
	Randomized *RandomizedConfig
}

// Projector is the gradient projector of "GaLore: Memory-Efficient LLM
// Training by Gradient Low-Rank Projection", with the semantics of the
// official code: it holds orthonormal factors P (m x r, the top left singular
// vectors of a gradient) and/or Q (r x n, the top right singular vectors, as
// rows), recomputed from the current gradient every UpdateGap calls of
// Project, starting with the first. Which factor depends on the type and the
// shape, see ProjType:
//
//	side   Project (R = )   R shape   ProjectBack (= α·)
//	right  G·Qᵀ             m x r     N·Q
//	left   Pᵀ·G             r x n     P·N
//	both   Pᵀ·G·Qᵀ          r x r     P·N·Q
//
// The side is fixed at construction from the type and the shape, never
// re-derived from the shape of R. The factors come from SVD (or
// RandomizedSVD) and follow the sign convention of Factors, each factor on
// its own, ProjFull included; so G and −G give the same factors, and a
// refresh does not flip coordinates arbitrarily relative to the moments an
// optimizer carries across it (spec golden G4c depends on this).
//
// Project, ProjectBack and ProjectBackAdd do not allocate. A refresh borrows
// its SVD workspace from a pool shared by all projectors (gonum's parallel
// matrix multiply inside the eigensolver still allocates a few small objects).
// A Projector must not be used by several goroutines at once; different
// projectors may run concurrently.
type Projector struct {
	rows, cols int
	rank       int
	gap        int
	scale      float32
	typ        ProjType
	side       Side
	rcfg       *RandomizedConfig
	step       int
	p, q       Matrix // factors; Empty when the side is not projected
	scratch    []float32
}

// NewProjector returns a projector for rows x cols gradients, or an error if
// the configuration is invalid.
func NewProjector(rows, cols int, cfg ProjectorConfig) (*Projector, error) {
	if rows < 1 || cols < 1 {
		return nil, fmt.Errorf("lowrank: projector for a %dx%d matrix; want both dimensions >= 1", rows, cols)
	}
	if cfg.Rank < 1 {
		return nil, fmt.Errorf("lowrank: projector rank %d; want >= 1", cfg.Rank)
	}
	if cfg.UpdateGap < 0 {
		return nil, fmt.Errorf("lowrank: projector update gap %d; want >= 1 (0 selects %d)", cfg.UpdateGap, DefaultUpdateGap)
	}
	if cfg.UpdateGap == 0 {
		cfg.UpdateGap = DefaultUpdateGap
	}
	if cfg.Scale == 0 {
		cfg.Scale = DefaultScale
	}
	if !(cfg.Scale > 0) || math.IsInf(float64(cfg.Scale), 0) {
		return nil, fmt.Errorf("lowrank: projector scale %v; want a positive finite number (0 selects %v)", cfg.Scale, DefaultScale)
	}
	if int(cfg.Type) >= len(projNames) {
		return nil, fmt.Errorf("lowrank: invalid projection type %d; want ProjStd, ProjReverseStd, ProjLeft, ProjRight or ProjFull", uint8(cfg.Type))
	}
	p := &Projector{
		rows:  rows,
		cols:  cols,
		rank:  EffectiveRank(cfg.Rank, rows, cols),
		gap:   cfg.UpdateGap,
		scale: cfg.Scale,
		typ:   cfg.Type,
		side:  cfg.Type.SideFor(rows, cols),
	}
	if cfg.Randomized != nil {
		if err := cfg.Randomized.validate(); err != nil {
			return nil, err
		}
		rc := *cfg.Randomized
		p.rcfg = &rc
	}
	if p.side&SideLeft != 0 {
		p.p = NewMatrix(rows, p.rank)
	}
	if p.side&SideRight != 0 {
		p.q = NewMatrix(p.rank, cols)
	}
	if p.side == SideBoth {
		p.scratch = make([]float32, p.rank*min(rows, cols))
	}
	return p, nil
}

// Rows returns the number of rows of the gradients.
func (p *Projector) Rows() int { return p.rows }

// Cols returns the number of columns of the gradients.
func (p *Projector) Cols() int { return p.cols }

// Rank returns the effective rank min(Rank, rows, cols).
func (p *Projector) Rank() int { return p.rank }

// UpdateGap returns the refresh period T.
func (p *Projector) UpdateGap() int { return p.gap }

// Scale returns α.
func (p *Projector) Scale() float32 { return p.scale }

// Type returns the projection type.
func (p *Projector) Type() ProjType { return p.typ }

// Side returns the side projected: SideRight, SideLeft or SideBoth.
func (p *Projector) Side() Side { return p.side }

// LowRankShape returns the shape of R = Project(G).
func (p *Projector) LowRankShape() (rows, cols int) {
	switch p.side {
	case SideRight:
		return p.rows, p.rank
	case SideLeft:
		return p.rank, p.cols
	}
	return p.rank, p.rank
}

// Step returns the number of successful Project calls so far (the official
// code's step counter before its increment).
func (p *Projector) Step() int { return p.step }

// RefreshDue reports whether the next Project call recomputes the factors.
func (p *Projector) RefreshDue() bool { return p.step%p.gap == 0 }

// P returns the left factor (rows x rank, orthonormal columns), or an empty
// Matrix if the left side is not projected. It is a view, read-only, updated
// in place by each refresh; it is meaningful once Step() > 0.
func (p *Projector) P() Matrix { return p.p }

// Q returns the right factor (rank x cols, orthonormal rows), or an empty
// Matrix if the right side is not projected. See P.
func (p *Projector) Q() Matrix { return p.q }

var (
	svdPool  = sync.Pool{New: func() any { return new(svdWork) }}
	rsvdPool = sync.Pool{New: func() any { return new(rsvdWork) }}
)

// Refresh recomputes the factors from g (rows x cols) without projecting or
// advancing the step. On error (g holds a NaN or an Inf, wrapping
// ErrNotFinite) the factors are left unchanged.
func (p *Projector) Refresh(g Matrix) error {
	const op = "lowrank.Projector.Refresh"
	checkShape(op, "gradient", g, p.rows, p.cols)
	return p.refresh(op, g)
}

func (p *Projector) refresh(op string, g Matrix) error {
	if err := notFinite(op, "gradient", g); err != nil {
		return err
	}
	var f Factors
	var err error
	if p.rcfg != nil {
		w := rsvdPool.Get().(*rsvdWork)
		defer rsvdPool.Put(w)
		f, err = w.factorize(op, *p.rcfg, g, p.rank, p.side, uint64(p.step), independentSigns)
	} else {
		w := svdPool.Get().(*svdWork)
		defer svdPool.Put(w)
		f, err = w.exact(op, g, p.rank, p.side, independentSigns)
	}
	if err != nil {
		return err
	}
	if p.side&SideLeft != 0 {
		copy(p.p.Data, f.U.Data)
	}
	if p.side&SideRight != 0 {
		copy(p.q.Data, f.Vt.Data)
	}
	return nil
}

// Project writes the low-rank projection R of the gradient g (rows x cols) to
// dst (LowRankShape), first recomputing the factors from g if RefreshDue, and
// advances the step. If g holds a NaN or an Inf it returns an error wrapping
// ErrNotFinite and leaves the projector (factors and step) unchanged, so the
// caller can skip the step. Wrong shapes panic.
func (p *Projector) Project(dst, g Matrix) error {
	const op = "lowrank.Projector.Project"
	checkShape(op, "gradient", g, p.rows, p.cols)
	rr, rc := p.LowRankShape()
	checkShape(op, "dst", dst, rr, rc)
	if p.RefreshDue() {
		if err := p.refresh(op, g); err != nil {
			return err
		}
	} else if err := notFinite(op, "gradient", g); err != nil {
		return err
	}
	p.project(dst, g)
	p.step++
	return nil
}

func (p *Projector) project(dst, g Matrix) {
	m, n, k := p.rows, p.cols, p.rank
	switch p.side {
	case SideRight: // G·Qᵀ
		kernels.Sgemm(false, true, m, k, n, 1, g.Data, n, p.q.Data, n, 0, dst.Data, k)
	case SideLeft: // Pᵀ·G
		kernels.Sgemm(true, false, k, n, m, 1, p.p.Data, k, g.Data, n, 0, dst.Data, n)
	default: // Pᵀ·G·Qᵀ, multiplying the smaller dimension away first
		t := p.scratch
		if m <= n {
			kernels.Sgemm(false, true, m, k, n, 1, g.Data, n, p.q.Data, n, 0, t, k)
			kernels.Sgemm(true, false, k, k, m, 1, p.p.Data, k, t, k, 0, dst.Data, k)
		} else {
			kernels.Sgemm(true, false, k, n, m, 1, p.p.Data, k, g.Data, n, 0, t, n)
			kernels.Sgemm(false, true, k, k, n, 1, t, n, p.q.Data, n, 0, dst.Data, k)
		}
	}
}

// ProjectBack writes α·back(r) to dst (rows x cols), where back is N·Q, P·N or
// P·N·Q for the side (see Projector) and r has LowRankShape.
func (p *Projector) ProjectBack(dst, r Matrix) {
	const op = "lowrank.Projector.ProjectBack"
	p.checkBack(op, dst, r)
	p.back(dst, p.scale, 0, r)
}

// ProjectBackAdd adds c·α·back(r) to dst (rows x cols) without a temporary
// full-size matrix: an optimizer applies its update with c = −step size, and
// Fira's residual G − α·back(R) is ProjectBackAdd(E, -1, R) on E = copy of G.
func (p *Projector) ProjectBackAdd(dst Matrix, c float32, r Matrix) {
	const op = "lowrank.Projector.ProjectBackAdd"
	p.checkBack(op, dst, r)
	p.back(dst, c*p.scale, 1, r)
}

func (p *Projector) checkBack(op string, dst, r Matrix) {
	rr, rc := p.LowRankShape()
	checkShape(op, "low-rank matrix", r, rr, rc)
	checkShape(op, "dst", dst, p.rows, p.cols)
}

// back computes dst = alpha·back(r) + beta·dst.
func (p *Projector) back(dst Matrix, alpha, beta float32, r Matrix) {
	m, n, k := p.rows, p.cols, p.rank
	switch p.side {
	case SideRight: // N·Q
		kernels.Sgemm(false, false, m, n, k, alpha, r.Data, k, p.q.Data, n, beta, dst.Data, n)
	case SideLeft: // P·N
		kernels.Sgemm(false, false, m, n, k, alpha, p.p.Data, k, r.Data, n, beta, dst.Data, n)
	default: // P·N·Q
		t := p.scratch
		if m <= n {
			kernels.Sgemm(false, false, m, k, k, 1, p.p.Data, k, r.Data, k, 0, t, k)
			kernels.Sgemm(false, false, m, n, k, alpha, t, k, p.q.Data, n, beta, dst.Data, n)
		} else {
			kernels.Sgemm(false, false, k, n, k, 1, r.Data, k, p.q.Data, n, 0, t, n)
			kernels.Sgemm(false, false, m, n, k, alpha, p.p.Data, k, t, n, beta, dst.Data, n)
		}
	}
}

// ProjectorState is what a checkpoint stores of a Projector: the step counter
// and the factors (P rows x rank and/or Q rank x cols; the unused one is
// empty). The factors are meaningless while Step is 0, since the first Project
// recomputes them.
type ProjectorState struct {
	Step int
	P, Q Matrix
}

// State returns a copy of the state.
func (p *Projector) State() ProjectorState {
	clone := func(a Matrix) Matrix {
		if a.Data == nil {
			return Matrix{}
		}
		return Matrix{Rows: a.Rows, Cols: a.Cols, Data: append([]float32(nil), a.Data...)}
	}
	return ProjectorState{Step: p.step, P: clone(p.p), Q: clone(p.q)}
}

// SetState restores a state saved by State, copying it in. It returns an
// error, and changes nothing, if the step is negative or a factor has the
// wrong shape or holds a non-finite value.
func (p *Projector) SetState(s ProjectorState) error {
	if s.Step < 0 {
		return fmt.Errorf("lowrank: projector state has step %d; want >= 0", s.Step)
	}
	check := func(name string, a, want Matrix) error {
		if a.Rows != want.Rows || a.Cols != want.Cols || len(a.Data) != len(want.Data) {
			return fmt.Errorf("lowrank: projector state factor %s is %dx%d with %d elements; want %dx%d (%s projection of a %dx%d matrix at rank %d)",
				name, a.Rows, a.Cols, len(a.Data), want.Rows, want.Cols, p.typ, p.rows, p.cols, p.rank)
		}
		return notFinite("lowrank: projector state", "factor "+name, a)
	}
	if err := check("P", s.P, p.p); err != nil {
		return err
	}
	if err := check("Q", s.Q, p.q); err != nil {
		return err
	}
	copy(p.p.Data, s.P.Data)
	copy(p.q.Data, s.Q.Data)
	p.step = s.Step
	return nil
}

// StateBytes returns the size of the state in bytes: 4 per factor element
// plus 8 for the step.
func (p *Projector) StateBytes() int {
	return 4*(len(p.p.Data)+len(p.q.Data)) + 8
}

// Bytes returns the memory held in bytes: the state plus, for ProjFull,
// rank·min(rows, cols) float32 of scratch. The SVD workspace of a refresh is
// borrowed from a shared pool and not counted.
func (p *Projector) Bytes() int { return p.StateBytes() + 4*len(p.scratch) }
