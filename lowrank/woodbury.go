package lowrank

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack/lapack64"
)

// Defaults of WoodburyConfig, from the official Natural GaLore code.
const (
	DefaultHistory = 20
	DefaultDamping = 1e-3
)

// WoodburyConfig sets up a Woodbury.
type WoodburyConfig struct {
	// History is the number s of most recent vectors kept. 0 means
	// DefaultHistory (20).
	History int
	// Damping is λ > 0. 0 means DefaultDamping (1e-3).
	Damping float64
	// Mean uses the average (1/s)·HHᵀ instead of the sum HHᵀ. The official
	// code and the golden values use the sum (Mean false).
	Mean bool
}

// Woodbury applies the inverse of the damped empirical Fisher matrix of a
// window of recent gradients, the transform of "Natural GaLore: Accelerating
// GaLore for memory-efficient LLM Training and Fine-tuning":
//
//	F = λI + H·Hᵀ        H = [h_1 … h_s] (k x s), the last s vectors pushed
//	F⁻¹g = g/λ − H·(λI_s + HᵀH)⁻¹·Hᵀg/λ
//	     = g/λ − H·z/λ²,   z = S⁻¹Hᵀg,   S = I_s + HᵀH/λ   (Woodbury identity)
//
// so only the s x s system S is solved (Cholesky, float64). With Mean, HHᵀ
// becomes HHᵀ/s. The vectors are stored as float32 in a ring buffer; their
// Gram matrix HᵀH is kept in float64 and updated by one row per Push (O(k·s)),
// and all arithmetic is float64. With an empty history F⁻¹g = g/λ.
//
// The result depends only on the sequence of vectors pushed (the solve runs in
// the order oldest to newest), so a history restored from State reproduces the
// original run bit for bit. Push, Apply and PushApply do not allocate.
type Woodbury struct {
	dim     int
	cap     int
	lambda  float64
	mean    bool
	hist    []float32 // cap x dim ring buffer
	head    int       // slot of the oldest vector
	n       int       // vectors held
	gram    []float64 // cap x cap, indexed by slot
	s       []float64 // n x n system, logical order
	y       []float64 // n right-hand side / solution
	jitters int       // number of solves that needed jitter (diagnostic)
}

// NewWoodbury returns an empty history for vectors of length dim, or an error
// if the configuration is invalid.
func NewWoodbury(dim int, cfg WoodburyConfig) (*Woodbury, error) {
	if dim < 1 {
		return nil, fmt.Errorf("lowrank: Woodbury vector length %d; want >= 1", dim)
	}
	if cfg.History < 0 {
		return nil, fmt.Errorf("lowrank: Woodbury history %d; want >= 1 (0 selects %d)", cfg.History, DefaultHistory)
	}
	if cfg.History == 0 {
		cfg.History = DefaultHistory
	}
	if cfg.Damping == 0 {
		cfg.Damping = DefaultDamping
	}
	if !(cfg.Damping > 0) || math.IsInf(cfg.Damping, 0) {
		return nil, fmt.Errorf("lowrank: Woodbury damping %v; want a positive finite number (0 selects %v)", cfg.Damping, DefaultDamping)
	}
	s := cfg.History
	return &Woodbury{
		dim:    dim,
		cap:    s,
		lambda: cfg.Damping,
		mean:   cfg.Mean,
		hist:   make([]float32, s*dim),
		gram:   make([]float64, s*s),
		s:      make([]float64, s*s),
		y:      make([]float64, s),
	}, nil
}

// Dim returns the vector length k.
func (w *Woodbury) Dim() int { return w.dim }

// History returns the capacity s.
func (w *Woodbury) History() int { return w.cap }

// Len returns the number of vectors held, min(pushes, s).
func (w *Woodbury) Len() int { return w.n }

// Damping returns λ.
func (w *Woodbury) Damping() float64 { return w.lambda }

// Jitters returns the number of solves so far whose s x s system needed
// diagonal jitter to factorise. Such a history is ill-conditioned beyond
// float64 (‖h‖²/λ near 1e16): the result stays finite and points the right
// way, but its magnitude is not reliable; consider a larger damping.
func (w *Woodbury) Jitters() int { return w.jitters }

// Reset empties the history.
func (w *Woodbury) Reset() { w.head, w.n = 0, 0 }

// slot returns the ring-buffer slot of the i-th oldest vector.
func (w *Woodbury) slot(i int) int { return (w.head + i) % w.cap }

func (w *Woodbury) vec(slot int) []float32 { return w.hist[slot*w.dim : (slot+1)*w.dim] }

func (w *Woodbury) checkLen(op, name string, v []float32) {
	if len(v) != w.dim {
		panic(fmt.Sprintf("%s: %s has length %d, want %d", op, name, len(v), w.dim))
	}
}

func (w *Woodbury) checkFinite(op, name string, v []float32) error {
	if i := firstNonFinite(v); i >= 0 {
		return fmt.Errorf("%s: %s holds %v at index %d; want finite values: %w", op, name, v[i], i, ErrNotFinite)
	}
	return nil
}

// Push appends g to the history, evicting the oldest vector once s are held.
// If g holds a NaN or an Inf it returns an error wrapping ErrNotFinite and
// leaves the history unchanged.
func (w *Woodbury) Push(g []float32) error {
	const op = "lowrank.Woodbury.Push"
	w.checkLen(op, "vector", g)
	if err := w.checkFinite(op, "vector", g); err != nil {
		return err
	}
	w.push(g)
	return nil
}

func (w *Woodbury) push(g []float32) {
	var sl int
	if w.n < w.cap {
		sl = w.slot(w.n)
		w.n++
	} else {
		sl = w.head
		w.head = (w.head + 1) % w.cap
	}
	copy(w.vec(sl), g)
	for i := range w.n {
		o := w.slot(i)
		d := dotMixed(w.vec(o), g)
		w.gram[sl*w.cap+o] = d
		w.gram[o*w.cap+sl] = d
	}
}

// Apply writes F⁻¹g to dst (which may alias g) without changing the history.
// It returns an error wrapping ErrNotFinite if g holds a NaN or an Inf, or an
// error if the s x s system cannot be factorised even with jitter (possible
// only when ‖h‖²/λ approaches 1e16; see Jitters).
func (w *Woodbury) Apply(dst, g []float32) error {
	const op = "lowrank.Woodbury.Apply"
	w.checkLen(op, "dst", dst)
	w.checkLen(op, "vector", g)
	if err := w.checkFinite(op, "vector", g); err != nil {
		return err
	}
	for i := range w.n {
		w.y[i] = dotMixed(w.vec(w.slot(i)), g)
	}
	return w.solve(op, dst, g)
}

// PushApply appends g to the history and then writes F⁻¹g to dst, the order of
// Natural GaLore (the current gradient is part of its own Fisher estimate). It
// reuses the Gram row of the push, so it costs about one pass over the
// history less than Push followed by Apply. Errors are those of Push and
// Apply; a non-finite g leaves the history unchanged.
func (w *Woodbury) PushApply(dst, g []float32) error {
	const op = "lowrank.Woodbury.PushApply"
	w.checkLen(op, "dst", dst)
	w.checkLen(op, "vector", g)
	if err := w.checkFinite(op, "vector", g); err != nil {
		return err
	}
	w.push(g)
	newest := w.slot(w.n - 1)
	for i := range w.n {
		w.y[i] = w.gram[newest*w.cap+w.slot(i)]
	}
	return w.solve(op, dst, g)
}

// maxJitterTries bounds the diagonal jitter retries of the Cholesky solve.
const maxJitterTries = 6

// solve computes dst = g/λ − H·z/(c·λ²) with z = S⁻¹y, S = I + HᵀH/(c·λ),
// c = s with Mean and 1 otherwise, given y = Hᵀg in w.y (logical order).
func (w *Woodbury) solve(op string, dst, g []float32) error {
	n := w.n
	lam := w.lambda
	if n == 0 {
		for i, v := range g {
			dst[i] = float32(float64(v) / lam)
		}
		return nil
	}
	c := lam
	if w.mean {
		c = lam * float64(n)
	}
	s := w.s[:n*n]
	z := w.y[:n]
	build := func(jitter float64) {
		for i := range n {
			si := w.slot(i)
			for j := range n {
				s[i*n+j] = w.gram[si*w.cap+w.slot(j)] / c
			}
			s[i*n+i] += 1 + jitter
		}
	}
	// S has eigenvalues >= 1 in exact arithmetic; Cholesky fails only when
	// rounding in entries of size ‖h‖²/λ swamps them. Then add a growing
	// multiple of the largest diagonal entry, as the official code's fp16
	// history calls for.
	maxDiag := 1.0
	for i := range n {
		sl := w.slot(i)
		maxDiag = max(maxDiag, 1+w.gram[sl*w.cap+sl]/c)
	}
	sym := blas64.Symmetric{N: n, Stride: n, Uplo: blas.Upper, Data: s}
	jitter := 0.0
	var t blas64.Triangular
	for try := 0; ; try++ {
		build(jitter)
		var ok bool
		if t, ok = lapack64.Potrf(sym); ok {
			break
		}
		if try == maxJitterTries {
			return fmt.Errorf("%s: the %dx%d system I + HᵀH/λ is not positive definite in float64 even with jitter %.3g (λ = %g; history norms too large for λ)", op, n, n, jitter, lam)
		}
		if jitter == 0 {
			w.jitters++
			jitter = maxDiag * 1e-14
		} else {
			jitter *= 100
		}
	}
	lapack64.Potrs(t, blas64.General{Rows: n, Cols: 1, Stride: 1, Data: z})

	// dst = (g − H·(z/c))/λ, blocked so the accumulator stays on the stack.
	for i := range z {
		z[i] /= c
	}
	const block = 256
	var acc [block]float64
	for lo := 0; lo < w.dim; lo += block {
		hi := min(lo+block, w.dim)
		a := acc[:hi-lo]
		for i, v := range g[lo:hi] {
			a[i] = float64(v)
		}
		for j := range n {
			h := w.vec(w.slot(j))[lo:hi]
			zj := z[j]
			for i, v := range h {
				a[i] -= zj * float64(v)
			}
		}
		for i, v := range a {
			dst[lo+i] = float32(v / lam)
		}
	}
	return nil
}

// dotMixed returns the inner product of two float32 vectors accumulated in
// float64 (each product is exact in float64).
func dotMixed(a, b []float32) float64 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += float64(a[i]) * float64(b[i])
		s1 += float64(a[i+1]) * float64(b[i+1])
		s2 += float64(a[i+2]) * float64(b[i+2])
		s3 += float64(a[i+3]) * float64(b[i+3])
	}
	for ; i < len(a); i++ {
		s0 += float64(a[i]) * float64(b[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// WoodburyState is what a checkpoint stores of a Woodbury: the history, one
// vector per row, oldest first (Len x Dim).
type WoodburyState struct {
	History Matrix
}

// State returns a copy of the history.
func (w *Woodbury) State() WoodburyState {
	h := NewMatrix(w.n, w.dim)
	for i := range w.n {
		copy(h.Data[i*w.dim:(i+1)*w.dim], w.vec(w.slot(i)))
	}
	return WoodburyState{History: h}
}

// SetState replaces the history by a saved one (copied in). It returns an
// error, and changes nothing, if the rows do not have length Dim, there are
// more than History of them, or they hold a non-finite value.
func (w *Woodbury) SetState(s WoodburyState) error {
	h := s.History
	if h.Rows == 0 {
		w.Reset()
		return nil
	}
	if h.Cols != w.dim || h.Rows < 0 || len(h.Data) != h.Rows*h.Cols {
		return fmt.Errorf("lowrank: Woodbury state is %dx%d with %d elements; want at most %d rows of length %d", h.Rows, h.Cols, len(h.Data), w.cap, w.dim)
	}
	if h.Rows > w.cap {
		return fmt.Errorf("lowrank: Woodbury state holds %d vectors; want at most the history length %d", h.Rows, w.cap)
	}
	if err := notFinite("lowrank: Woodbury state", "history", h); err != nil {
		return err
	}
	w.Reset()
	for i := range h.Rows {
		w.push(h.Data[i*w.dim : (i+1)*w.dim])
	}
	return nil
}

// StateBytes returns the size in bytes of the history a checkpoint stores,
// Len·Dim·4.
func (w *Woodbury) StateBytes() int { return 4 * w.n * w.dim }

// Bytes returns the memory held in bytes: the float32 history at capacity
// (s·k·4) plus the float64 Gram matrix and s x s system (2·s²·8 + s·8).
func (w *Woodbury) Bytes() int {
	return 4*len(w.hist) + 8*(len(w.gram)+len(w.s)+len(w.y))
}
