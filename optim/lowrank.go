package optim

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"strings"

	"github.com/kiln-ml/kiln/autograd"
	"github.com/kiln-ml/kiln/kernels"
	"github.com/kiln-ml/kiln/lowrank"
)

// The kinds of low-rank optimizer NewLowRank builds.
const (
	KindGaLore        = "galore"
	KindNaturalGaLore = "natural-galore"
	KindFira          = "fira"
)

// LowRankKinds lists the kinds NewLowRank knows.
func LowRankKinds() []string { return []string{KindGaLore, KindNaturalGaLore, KindFira} }

// Defaults of LowRankConfig. LR, UpdateGap, Scale, History, Damping and
// Gamma are the official code's; Rank is the default of GaLore's training
// script. The papers' runs use Scale 0.25 and LR 0.01.
const (
	DefaultLowRankLR        = 1e-3
	DefaultLowRankRank      = 128
	DefaultLowRankUpdateGap = lowrank.DefaultUpdateGap
	DefaultLowRankScale     = lowrank.DefaultScale
	DefaultNaturalHistory   = lowrank.DefaultHistory
	DefaultNaturalDamping   = lowrank.DefaultDamping
	DefaultFiraGamma        = 1.01
)

// MomentReprojection says what a low-rank optimizer does with the moments of
// a matrix when its projector is refreshed.
type MomentReprojection uint8

const (
	// KeepMoments leaves the moments as they are, in coordinates that now
	// refer to the new basis: the official GaLore, Fira and Natural GaLore
	// behaviour, and the default.
	KeepMoments MomentReprojection = iota
	// RotateFirstMoment maps the first moments (exp_avg, momentum_buffer)
	// exactly to the new basis (right side: M ← M·Q_old·Q_newᵀ; left side:
	// M ← P_newᵀ·P_old·M) and keeps the second moments as they are. An
	// extension (spec §3.3), not in the official code.
	RotateFirstMoment
	// RotateMoments maps the first moments as RotateFirstMoment does and the
	// second moments (exp_avg_sq, max_exp_avg_sq) through the elementwise
	// square of the same change of basis, which keeps them non-negative and
	// is exact when the new basis is a signed permutation of the old one
	// (the variance of a sum of independent coordinates). An extension.
	RotateMoments
)

var reprojectNames = [...]string{"keep", "rotate-first", "rotate"}

// String returns "keep", "rotate-first" or "rotate".
func (r MomentReprojection) String() string {
	if int(r) < len(reprojectNames) {
		return reprojectNames[r]
	}
	return fmt.Sprintf("MomentReprojection(%d)", uint8(r))
}

// LowRankConfig holds the settings of GaLore, Natural GaLore and Fira. A zero
// field takes the default noted beside it. Settings that belong to one kind
// only (History and Damping for Natural GaLore; Gamma, MatrixScaling and
// PaperResidual for Fira) must stay zero for the others.
type LowRankConfig struct {
	LR float64 // learning rate (default 1e-3)
	// WeightDecay follows the base's convention (default 0): with the
	// default AdamHF base, p ← p − lr·wd·p after the update, in the full
	// space, as the official code does; with AdamW or Lion, p ← p·(1−lr·wd)
	// before it; with Adam or SGD, wd·p is added to the gradient before
	// projection. Groups override it (see Group).
	WeightDecay float64
	// Rank is the requested rank r (default 128). Each matrix uses
	// min(r, rows, cols); Projections reports it.
	Rank int
	// UpdateGap is the refresh period T (default 200): a matrix's projector
	// is recomputed from its current gradient on its steps 1, T+1, 2T+1, ...
	UpdateGap int
	// Scale is α, the factor of the back-projection ("galore_scale"; default
	// 1, the official code's; the papers' runs use 0.25).
	Scale float64
	// Projection is the projection type: "std" (default: project the smaller
	// dimension), "reverse_std", "left", "right" or "full" (both sides; not
	// with Fira).
	Projection string
	// RandomizedSVD computes the projectors with the randomized range finder
	// (oversampling 10, two power iterations) instead of the exact SVD.
	RandomizedSVD bool
	// Seed seeds the randomized SVD; each matrix draws from its own stream
	// derived from Seed and its name, and from its step, so a resumed run
	// needs no generator state.
	Seed uint64
	// Reproject says what happens to the moments at a refresh (default
	// KeepMoments, the official behaviour).
	Reproject MomentReprojection
	// Base is the optimizer run on the low-rank gradients, and on the other
	// parameters as they are (default AdamHF with β = (0.9, 0.999), ε = 1e-6,
	// the Hugging Face AdamW the official code builds on). AdamTorch (Adam,
	// AdamW), LionCore and SGDCore are the other choices; see LowRankBase.
	Base Core
	// Target selects the parameters to project (default DefaultLowRankTarget).
	// It must select only matrices (2-D parameters).
	Target func(p *autograd.Var) bool

	// History is Natural GaLore's number s of recent low-rank gradients in
	// the Fisher estimate (default 20).
	History int
	// Damping is Natural GaLore's λ > 0 (default 1e-3).
	Damping float64

	// Gamma is Fira's norm-growth limit γ ≥ 1 (default 1.01).
	Gamma float64
	// MatrixScaling makes Fira scale the residual by one factor per matrix,
	// ‖N‖/‖R‖, instead of one per column (default: per column, as the
	// official code does).
	MatrixScaling bool
	// PaperResidual makes Fira's residual G − back(R), the part of the
	// gradient outside the subspace, instead of the official code's
	// G − α·back(R), which keeps (1−α)·back(R) when α ≠ 1.
	PaperResidual bool
}

// LowRankBase returns the base optimizer called name with the reference
// defaults: "adamw-hf" (AdamHF, β = (0.9, 0.999), ε = 1e-6, the default),
// "adamw" and "adam" (AdamTorch, ε = 1e-8, decoupled or coupled decay),
// "lion" (LionCore, β = (0.9, 0.99)) or "sgd" (SGDCore without momentum).
func LowRankBase(name string) (Core, error) {
	switch name {
	case "adamw-hf":
		return AdamHF{Beta1: 0.9, Beta2: 0.999, Eps: 1e-6}, nil
	case "adamw":
		return AdamTorch{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Decoupled: true}, nil
	case "adam":
		return AdamTorch{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}, nil
	case "lion":
		return LionCore{Beta1: 0.9, Beta2: 0.99}, nil
	case "sgd":
		return SGDCore{}, nil
	}
	return nil, fmt.Errorf("optim: unknown low-rank base optimizer %q (want one of adamw-hf, adamw, adam, lion, sgd)", name)
}

// DefaultLowRankTarget selects the parameters the official GaLore, Fira and
// Natural GaLore scripts project: the weight matrices of the attention and
// MLP blocks, that is 2-D parameters named "<...>.weight" with a part of the
// name containing "attn" or "mlp" ("blocks.0.attn.qkv.weight",
// "blocks.3.mlp.proj.weight"). Embeddings, the head, norms and biases are
// trained by the base optimizer without projection.
func DefaultLowRankTarget(p *autograd.Var) bool {
	if p.Value().Dim() != 2 {
		return false
	}
	parts := strings.Split(strings.ToLower(p.Name()), ".")
	if len(parts) < 2 || parts[len(parts)-1] != "weight" {
		return false
	}
	for _, part := range parts[:len(parts)-1] {
		if strings.Contains(part, "attn") || strings.Contains(part, "mlp") {
			return true
		}
	}
	return false
}

// Projection describes one matrix a low-rank optimizer projects.
type Projection struct {
	Param      string // parameter name
	Rows, Cols int    // shape of the matrix
	Rank       int    // effective rank, min(requested rank, Rows, Cols)
	Side       string // side projected: "right" (R = G·Qᵀ), "left" (R = Pᵀ·G) or "both"
	LowRank    [2]int // shape of the projected gradient R and of the moments
}

// LowRank is GaLore, Natural GaLore or Fira: a base optimizer (Core) run on
// low-rank projections of the gradients of some weight matrices, and on the
// other parameters as they are. Which parameters are projected is decided by
// a predicate on the parameter (LowRankConfig.Target), as optax composes a
// projection with a partition of the parameters.
//
// For a projected m x n matrix W with gradient G, each step is (official
// code semantics, see shared/specs/optimizers.md §3-5):
//
//	R = project(G)               refreshing the projector from G on steps 1, T+1, ...
//	R ← F⁻¹R                     Natural GaLore only, F = λI + HHᵀ over the last s R's
//	N, c = base direction of R   low-rank moments, e.g. N = M/(√V + ε), c = √(1−β2ᵗ)/(1−β1ᵗ)
//	W ← W − lr·c·α·back(N)
//	W ← W − lr·c·S               Fira only: S = norm-scaled, growth-limited residual
//	weight decay                 in the base's convention (see LowRankConfig.WeightDecay)
//
// A step whose gradients hold a NaN or an infinity changes nothing and
// returns an error that wraps lowrank.ErrNotFinite and a *NonFiniteError
// naming the parameter. State and LoadState carry moments, projectors (step
// counters and factors), Natural GaLore's history and Fira's limiter state,
// so a resumed run continues bit for bit.
type LowRank struct {
	base
	core      Core
	baseName  string
	decay     decayRule
	cfg       LowRankConfig // resolved
	mats      []*lowRankMatrix
	roles     []momentRole // per core slot
	natural   bool
	fira      bool
	work      lowRankWork
	firaPass  firaPass
	projected int
}

// lowRankMatrix is the per-matrix state beyond the core's moments.
type lowRankMatrix struct {
	rows, cols int
	proj       *lowrank.Projector
	fisher     *lowrank.Woodbury // Natural GaLore
	// Fira: the norm of the residual term of the previous step (after
	// limiting), float32 as in the official code; and diagnostics of the
	// last step.
	prevNorm    float32
	lastNorm    float64 // ‖S‖ before limiting
	lastLimiter float64 // the limiter L the residual was divided by
}

// lowRankWork is scratch shared by all matrices, sized for the largest.
type lowRankWork struct {
	full       []float32 // m·n: the gradient with coupled decay, Fira's residual
	r, n       []float32 // low-rank: the projection and the direction
	phi        []float32 // Fira's factors, max(m, n)
	colN, colR []float64 // Fira's column norms
	oldP, oldQ []float32 // factors before a refresh, for Reproject
	cl, cr     []float32 // r x r changes of basis
	sq         []float32 // r x r squared change of basis
	tmp        []float32 // low-rank product
}

// decayRule is the way a base applies weight decay.
type decayRule uint8

const (
	decayAfterUpdate  decayRule = iota // p ← p − lr·wd·p after the update (AdamHF)
	decayBeforeUpdate                  // p ← p·(1 − lr·wd) before the update (AdamW, Lion)
	decayCoupled                       // g ← g + wd·p (Adam, SGD)
)

// momentRole is how a core's state buffer transforms under a change of basis.
type momentRole uint8

const (
	roleOther  momentRole = iota
	roleFirst             // linear in the gradient: rotate
	roleSecond            // quadratic: keep or square-rotate
)

func roleOf(slot string) momentRole {
	switch slot {
	case "exp_avg", "momentum_buffer":
		return roleFirst
	case "exp_avg_sq", "max_exp_avg_sq":
		return roleSecond
	}
	return roleOther
}

// baseInfo returns the name and decay rule of a core.
func baseInfo(c Core) (string, decayRule) {
	switch c := c.(type) {
	case AdamHF:
		return "adamw-hf", decayAfterUpdate
	case *AdamHF:
		return baseInfo(*c)
	case AdamTorch:
		if c.Decoupled {
			return "adamw", decayBeforeUpdate
		}
		return "adam", decayCoupled
	case *AdamTorch:
		return baseInfo(*c)
	case LionCore:
		return "lion", decayBeforeUpdate
	case *LionCore:
		return baseInfo(*c)
	case SGDCore:
		return "sgd", decayCoupled
	case *SGDCore:
		return baseInfo(*c)
	}
	return fmt.Sprintf("%T", c), decayAfterUpdate
}

var _ Optimizer = (*LowRank)(nil)

// NewLowRank returns the low-rank optimizer of the given kind ("galore",
// "natural-galore" or "fira", see LowRankKinds) over params: the constructor
// a command line with --optimizer, --rank, --update-gap and --galore-scale
// flags calls. Groups override the learning rate and weight decay of some
// parameters, projected or not (see Group).
func NewLowRank(kind string, params []*autograd.Var, cfg LowRankConfig, groups ...Group) (*LowRank, error) {
	switch kind {
	case KindGaLore:
		return newLowRank(kind, "optim.NewGaLore", params, cfg, groups)
	case KindNaturalGaLore:
		return newLowRank(kind, "optim.NewNaturalGaLore", params, cfg, groups)
	case KindFira:
		return newLowRank(kind, "optim.NewFira", params, cfg, groups)
	}
	return nil, fmt.Errorf("optim.NewLowRank: unknown kind %q (want one of galore, natural-galore, fira)", kind)
}

// resolve fills in the defaults of cfg and checks it for kind.
func (cfg LowRankConfig) resolve(kind string) (LowRankConfig, lowrank.ProjType, error) {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	add(checkLR(cfg.LR))
	add(checkNonNeg("weight decay", cfg.WeightDecay))
	cfg.LR = orDefault(cfg.LR, DefaultLowRankLR)
	if cfg.Rank < 0 {
		add(fmt.Errorf("rank %d must be at least 1 (0 takes the default %d)", cfg.Rank, DefaultLowRankRank))
	} else if cfg.Rank == 0 {
		cfg.Rank = DefaultLowRankRank
	}
	if cfg.UpdateGap < 0 {
		add(fmt.Errorf("update gap %d must be at least 1 (0 takes the default %d)", cfg.UpdateGap, DefaultLowRankUpdateGap))
	} else if cfg.UpdateGap == 0 {
		cfg.UpdateGap = DefaultLowRankUpdateGap
	}
	add(checkPositive("scale", cfg.Scale, true))
	if cfg.Scale > math.MaxFloat32 {
		add(fmt.Errorf("scale %v is beyond float32", cfg.Scale))
	}
	cfg.Scale = orDefault(cfg.Scale, DefaultLowRankScale)
	if cfg.Projection == "" {
		cfg.Projection = "std"
	}
	pt, err := lowrank.ParseProjType(cfg.Projection)
	if err != nil {
		add(fmt.Errorf("projection %q is unknown; want one of std, reverse_std, left, right, full", cfg.Projection))
	}
	if int(cfg.Reproject) >= len(reprojectNames) {
		add(fmt.Errorf("moment reprojection %d is unknown; want KeepMoments, RotateFirstMoment or RotateMoments", uint8(cfg.Reproject)))
	}
	if cfg.Base == nil {
		cfg.Base, _ = LowRankBase("adamw-hf")
	}
	if v, ok := cfg.Base.(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			add(fmt.Errorf("base optimizer: %w", err))
		}
	}
	if cfg.Reproject != KeepMoments {
		for _, s := range cfg.Base.Slots() {
			if roleOf(s) == roleOther {
				add(fmt.Errorf("moment reprojection %v does not know how to map the base's state %q to a new basis; use KeepMoments", cfg.Reproject, s))
			}
		}
	}
	if cfg.Target == nil {
		cfg.Target = DefaultLowRankTarget
	}
	if kind == KindNaturalGaLore {
		if cfg.History < 0 {
			add(fmt.Errorf("history %d must be at least 1 (0 takes the default %d)", cfg.History, DefaultNaturalHistory))
		} else if cfg.History == 0 {
			cfg.History = DefaultNaturalHistory
		}
		add(checkPositive("damping", cfg.Damping, true))
		cfg.Damping = orDefault(cfg.Damping, DefaultNaturalDamping)
	} else {
		if cfg.History != 0 || cfg.Damping != 0 {
			add(fmt.Errorf("the Natural GaLore settings History (%d) and Damping (%v) must be zero for %s, which does not use them", cfg.History, cfg.Damping, kind))
		}
	}
	if kind == KindFira {
		if !(cfg.Gamma == 0 || cfg.Gamma >= 1) || math.IsInf(cfg.Gamma, 0) {
			add(fmt.Errorf("gamma %v must be finite and at least 1 (0 takes the default %v)", cfg.Gamma, DefaultFiraGamma))
		}
		cfg.Gamma = orDefault(cfg.Gamma, DefaultFiraGamma)
		if err == nil && pt == lowrank.ProjFull {
			add(errors.New(`projection "full" leaves Fira no unprojected dimension to scale the residual along; want std, reverse_std, left or right`))
		}
	} else if cfg.Gamma != 0 || cfg.MatrixScaling || cfg.PaperResidual {
		add(fmt.Errorf("the Fira settings Gamma, MatrixScaling and PaperResidual must be zero for %s, which does not use them", kind))
	}
	return cfg, pt, errors.Join(errs...)
}

func newLowRank(kind, op string, params []*autograd.Var, cfg LowRankConfig, groups []Group) (*LowRank, error) {
	cfg, pt, err := cfg.resolve(kind)
	if err != nil {
		return nil, fmt.Errorf("%s: invalid config: %w", op, err)
	}
	b, err := newBase(kind, params, cfg.LR, cfg.WeightDecay, groups, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	o := &LowRank{
		base:    b,
		core:    cfg.Base,
		cfg:     cfg,
		mats:    make([]*lowRankMatrix, len(b.slots)),
		natural: kind == KindNaturalGaLore,
		fira:    kind == KindFira,
	}
	o.baseName, o.decay = baseInfo(cfg.Base)
	o.names = cfg.Base.Slots()
	for _, s := range o.names {
		o.roles = append(o.roles, roleOf(s))
	}
	var maxFull, maxLow, maxDim, maxRank, maxP, maxQ int
	var errs []error
	for i := range o.slots {
		s := &o.slots[i]
		shape := s.v.Shape()
		if !cfg.Target(s.v) {
			s.st = NewTensorState(o.core, s.v.Value().Size())
			continue
		}
		if len(shape) != 2 {
			errs = append(errs, notMatrix(s.key, shape))
			continue
		}
		m, n := shape[0], shape[1]
		pc := lowrank.ProjectorConfig{Rank: cfg.Rank, UpdateGap: cfg.UpdateGap, Scale: float32(cfg.Scale), Type: pt}
		if cfg.RandomizedSVD {
			rc := lowrank.DefaultRandomizedConfig()
			h := fnv.New64a()
			h.Write([]byte(s.key))
			rc.Seed = cfg.Seed ^ h.Sum64()
			pc.Randomized = &rc
		}
		proj, err := lowrank.NewProjector(m, n, pc)
		if err != nil {
			errs = append(errs, fmt.Errorf("parameter %q: %w", s.key, err))
			continue
		}
		rr, rc := proj.LowRankShape()
		mat := &lowRankMatrix{rows: m, cols: n, proj: proj}
		if o.natural {
			mat.fisher, err = lowrank.NewWoodbury(rr*rc, lowrank.WoodburyConfig{History: cfg.History, Damping: cfg.Damping})
			if err != nil {
				errs = append(errs, fmt.Errorf("parameter %q: %w", s.key, err))
				continue
			}
		}
		o.mats[i] = mat
		o.projected++
		s.st = NewTensorState(o.core, rr*rc)
		maxFull = max(maxFull, m*n)
		maxLow = max(maxLow, rr*rc)
		maxDim = max(maxDim, m, n)
		maxRank = max(maxRank, proj.Rank())
		maxP = max(maxP, len(proj.P().Data))
		maxQ = max(maxQ, len(proj.Q().Data))
	}
	if o.projected == 0 && len(errs) == 0 {
		errs = append(errs, errors.New("the target selects none of the parameters, so nothing would be projected (the default target wants 2-D \"<...>.weight\" parameters under a name part containing \"attn\" or \"mlp\"); set Target, or use the base optimizer alone"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	w := &o.work
	w.r = make([]float32, maxLow)
	w.n = make([]float32, maxLow)
	if o.fira || o.decay == decayCoupled {
		w.full = make([]float32, maxFull)
	}
	if o.fira {
		w.phi = make([]float32, maxDim)
		w.colN = make([]float64, maxDim)
		w.colR = make([]float64, maxDim)
		o.firaPass.init()
	}
	if cfg.Reproject != KeepMoments {
		w.oldP = make([]float32, maxP)
		w.oldQ = make([]float32, maxQ)
		w.cl = make([]float32, maxRank*maxRank)
		w.cr = make([]float32, maxRank*maxRank)
		w.sq = make([]float32, maxRank*maxRank)
		w.tmp = make([]float32, maxLow)
	}
	return o, nil
}

// notMatrix is the error for a target that is not a matrix.
func notMatrix(name string, shape []int) error {
	return fmt.Errorf("parameter %q of shape %v is selected for projection, but only matrices (2-D) can be projected; exclude it from Target", name, shape)
}

// Kind returns "galore", "natural-galore" or "fira".
func (o *LowRank) Kind() string { return o.kind }

// Base returns the core run on the low-rank gradients and the other
// parameters.
func (o *LowRank) Base() Core { return o.core }

// Config returns the configuration with its defaults filled in.
func (o *LowRank) Config() LowRankConfig { return o.cfg }

// Projections describes the projected matrices, in the order of Params.
func (o *LowRank) Projections() []Projection {
	out := make([]Projection, 0, o.projected)
	for i, m := range o.mats {
		if m == nil {
			continue
		}
		rr, rc := m.proj.LowRankShape()
		out = append(out, Projection{
			Param: o.slots[i].key, Rows: m.rows, Cols: m.cols, Rank: m.proj.Rank(),
			Side: m.proj.Side().String(), LowRank: [2]int{rr, rc},
		})
	}
	return out
}

// Step updates every parameter that has a gradient. If a gradient holds a
// NaN or an infinity, nothing changes and the error wraps
// lowrank.ErrNotFinite and a *NonFiniteError. Any other error (a
// decomposition or a Natural GaLore solve that fails on finite input, which
// does not happen in practice) is returned as soon as it occurs: the
// parameters before the failing one are then already updated, and the
// failing one's projector has advanced.
func (o *LowRank) Step() error {
	for i := range o.slots {
		s := &o.slots[i]
		if g := s.gradOf(); g != nil && !allFinite(g) {
			return fmt.Errorf("optim: %s step skipped, nothing changed: %w: %w", o.kind, nonFiniteIn(s, g), lowrank.ErrNotFinite)
		}
	}
	for i := range o.slots {
		s := &o.slots[i]
		g := s.gradOf()
		if g == nil {
			continue
		}
		grp := &o.groups[s.group]
		lr, wd := o.lr*grp.lrScale, grp.weightDecay
		if m := o.mats[i]; m != nil {
			if err := o.stepMatrix(m, s, g, lr, wd); err != nil {
				return fmt.Errorf("optim: %s step of %q: %w", o.kind, s.key, err)
			}
			continue
		}
		o.core.Update(s.v.Value().Data(), g, &s.st, lr, wd)
	}
	return nil
}

// allFinite reports whether x holds no NaN or infinity: a finite sum proves
// it in one vectorised pass; only a non-finite sum (possibly an overflow of
// finite values) needs the scan.
func allFinite(x []float32) bool {
	if s := kernels.Sum(x); s-s == 0 {
		return true
	}
	for _, v := range x {
		if isNonFinite(v) {
			return false
		}
	}
	return true
}

// nonFiniteIn describes the first non-finite element of g, the gradient of s.
func nonFiniteIn(s *slot, g []float32) *NonFiniteError {
	for j, x := range g {
		if isNonFinite(x) {
			return &NonFiniteError{Param: s.key, Index: unravel(j, s.v.Shape()), Value: x}
		}
	}
	return &NonFiniteError{Param: s.key}
}

// stepMatrix applies one step to a projected matrix.
func (o *LowRank) stepMatrix(m *lowRankMatrix, s *slot, g []float32, lr, wd float64) error {
	w := s.v.Value().Data()
	if o.decay == decayCoupled && wd != 0 {
		full := o.work.full[:len(g)]
		l := newLoop(coupledLoop)
		l.p, l.g, l.a = w, g, full
		l.k[0] = float32(wd)
		l.do(len(g))
		g = full
	}
	rr, rc := m.proj.LowRankShape()
	k := rr * rc
	r := lowrank.Matrix{Rows: rr, Cols: rc, Data: o.work.r[:k]}
	reproject := o.cfg.Reproject != KeepMoments && m.proj.Step() > 0 && m.proj.RefreshDue()
	if reproject {
		copy(o.work.oldP, m.proj.P().Data)
		copy(o.work.oldQ, m.proj.Q().Data)
	}
	if err := m.proj.Project(r, lowrank.Matrix{Rows: m.rows, Cols: m.cols, Data: g}); err != nil {
		return err
	}
	if reproject {
		o.reprojectMoments(m, &s.st)
	}
	in := r.Data
	dir := o.work.n[:k]
	if m.fisher != nil {
		if err := m.fisher.PushApply(dir, r.Data); err != nil {
			return err
		}
		in = dir
	} else if !o.fira {
		dir = r.Data // the direction may overwrite R when nothing else needs it
	}
	c := o.core.Direction(dir, in, &s.st)
	step := lr * c
	if o.decay == decayBeforeUpdate && wd != 0 {
		l := newLoop(scaleLoop)
		l.p = w
		l.k[0] = float32(1 - lr*wd)
		l.do(len(w))
	}
	wm := lowrank.Matrix{Rows: m.rows, Cols: m.cols, Data: w}
	m.proj.ProjectBackAdd(wm, float32(-step), lowrank.Matrix{Rows: rr, Cols: rc, Data: dir})
	if o.fira {
		o.firaResidual(m, &s.st, w, g, r.Data, dir, step)
	}
	if o.decay == decayAfterUpdate && wd != 0 {
		decayAfter(w, float32(lr*wd))
	}
	return nil
}

// coupledLoop sets a = g + k0·p.
func coupledLoop(l *loop, lo, hi int) {
	p, g, a, wd := l.p[lo:hi], l.g[lo:hi], l.a[lo:hi], l.k[0]
	for i := range a {
		a[i] = g[i] + wd*p[i]
	}
}

// reprojectMoments maps the core's state of m from the factors saved in
// o.work.oldP/oldQ to the projector's new factors.
func (o *LowRank) reprojectMoments(m *lowRankMatrix, st *TensorState) {
	p := m.proj
	r := p.Rank()
	rr, rc := p.LowRankShape()
	var cl, cr []float32
	if p.Side() != lowrank.SideRight { // C = P_newᵀ·P_old, M ← C·M
		cl = o.work.cl[:r*r]
		kernels.Sgemm(true, false, r, r, m.rows, 1, p.P().Data, r, o.work.oldP[:m.rows*r], r, 0, cl, r)
	}
	if p.Side() != lowrank.SideLeft { // C = Q_old·Q_newᵀ, M ← M·C
		cr = o.work.cr[:r*r]
		kernels.Sgemm(false, true, r, r, m.cols, 1, o.work.oldQ[:r*m.cols], m.cols, p.Q().Data, m.cols, 0, cr, r)
	}
	for k, role := range o.roles {
		switch {
		case role == roleFirst:
			o.changeBasis(st.Buf[k], rr, rc, cl, cr)
		case role == roleSecond && o.cfg.Reproject == RotateMoments:
			o.changeBasis(st.Buf[k], rr, rc, o.squared(cl), nil)
			o.changeBasis(st.Buf[k], rr, rc, nil, o.squared(cr))
		}
	}
}

// squared returns the elementwise square of c in scratch (nil for nil).
func (o *LowRank) squared(c []float32) []float32 {
	if c == nil {
		return nil
	}
	sq := o.work.sq[:len(c)]
	for i, x := range c {
		sq[i] = x * x
	}
	return sq
}

// changeBasis sets buf (rr x rc) to cl·buf·cr, skipping a nil side.
func (o *LowRank) changeBasis(buf []float32, rr, rc int, cl, cr []float32) {
	tmp := o.work.tmp[:rr*rc]
	if cl != nil {
		kernels.Sgemm(false, false, rr, rc, rr, 1, cl, rr, buf, rc, 0, tmp, rc)
		copy(buf, tmp)
	}
	if cr != nil {
		kernels.Sgemm(false, false, rr, rc, rc, 1, buf, rc, cr, rc, 0, tmp, rc)
		copy(buf, tmp)
	}
}
