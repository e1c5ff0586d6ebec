package lowrank

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/kiln-ml/kiln/kernels"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack/lapack64"
)

// RandomizedConfig sets up a RandomizedSVD. The fields are taken literally
// (zero oversampling means none); DefaultRandomizedConfig gives the usual
// values.
type RandomizedConfig struct {
	// Oversample is the number of sample vectors beyond the rank (p); 5 to 10
	// makes the captured subspace reliable.
	Oversample int
	// PowerIters is the number of subspace (power) iterations q, each
	// re-orthonormalised by QR; each sharpens the decay of the spectrum seen by
	// the range finder from σ to σ^(2q+1).
	PowerIters int
	// Seed seeds the Gaussian test matrices. Give each matrix its own seed.
	Seed uint64
}

// DefaultRandomizedConfig returns Oversample 10, PowerIters 2, Seed 0.
func DefaultRandomizedConfig() RandomizedConfig {
	return RandomizedConfig{Oversample: 10, PowerIters: 2}
}

func (c RandomizedConfig) validate() error {
	if c.Oversample < 0 {
		return fmt.Errorf("lowrank: randomized SVD oversampling is %d; want >= 0 (10 is usual)", c.Oversample)
	}
	if c.PowerIters < 0 {
		return fmt.Errorf("lowrank: randomized SVD power iterations is %d; want >= 0 (2 is usual)", c.PowerIters)
	}
	return nil
}

// RandomizedSVD computes approximate truncated SVDs with the randomized range
// finder of "Finding Structure with Randomness: Probabilistic Algorithms for
// Constructing Approximate Matrix Decompositions" (Halko, Martinsson, Tropp):
// with X the matrix or its transpose, whichever has at least as many rows as
// columns, and ℓ = r + Oversample,
//
//	Y = X·Ω  (Ω a seeded Gaussian N x ℓ matrix)
//	repeat PowerIters times:  Y = X·lu(Xᵀ·lu(Y))
//	Q = qr(Y),  B = Qᵀ·X (ℓ x N),  B = W·Σ·Vᵀ (exact, via the ℓ x ℓ Gram matrix)
//	the singular vectors of X are Q·W and V.
//
// lu(Y) is P·L of an LU factorization with partial pivoting: a well
// conditioned basis of the range of Y and 2-3x cheaper than a Householder QR,
// which only the final, orthonormal basis needs (the scheme of Facebook's
// fbpca). The products with X run in float32 on kernels.Sgemm, the
// factorizations and the small SVD in float64. The cost is O(mn·ℓ·(2q+2))
// instead of the O(mn·min(m,n) + min(m,n)³) of SVD. When ℓ >= min(m, n) the
// range finder would sample the whole space, so the exact SVD is computed
// instead. Results follow the conventions documented at Factors; their
// accuracy depends on the decay of the spectrum beyond the rank.
//
// A RandomizedSVD keeps its workspace between calls and must not be used by
// several goroutines at once.
type RandomizedSVD struct {
	cfg RandomizedConfig
	w   rsvdWork
}

// NewRandomizedSVD returns a RandomizedSVD, or an error if cfg is invalid.
func NewRandomizedSVD(cfg RandomizedConfig) (*RandomizedSVD, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &RandomizedSVD{cfg: cfg}, nil
}

// Config returns the configuration.
func (d *RandomizedSVD) Config() RandomizedConfig { return d.cfg }

// Factorize computes approximately the top r singular values of a and the
// singular vectors of the requested side(s). The test matrix is drawn from a
// PCG generator seeded with (Seed, stream), so a call is reproducible from its
// arguments alone: a caller that refreshes periodically passes its step
// counter as the stream and needs no generator state in its checkpoints.
// Errors and panics are those of SVD.Factorize.
func (d *RandomizedSVD) Factorize(a Matrix, r int, side Side, stream uint64) (Factors, error) {
	const op = "lowrank.RandomizedSVD.Factorize"
	checkFactorizeArgs(op, a, r, side)
	if err := notFinite(op, "matrix", a); err != nil {
		return Factors{}, err
	}
	return d.w.factorize(op, d.cfg, a, r, side, stream, pairedSigns)
}

// rsvdWork is the reusable workspace of the randomized SVD.
type rsvdWork struct {
	svdWork           // exact fallback, output buffers, small SVD
	omega   []float32 // N x ℓ test matrix
	y       []float32 // M x ℓ samples / basis Q (float32)
	z       []float32 // N x ℓ samples / Bᵀ (float32)
	q64     []float64 // M x ℓ basis Q (float64)
	z64     []float64 // N x ℓ (float64)
	tau     []float64 // ℓ Householder scalars
	ipiv    []int     // ℓ LU pivots
	qrWork  []float64 // LAPACK workspace for QR
	qrRows  int       // shape the QR workspace was sized for
	qrCols  int
	small   []float64 // k x ℓ leading eigenvectors of BBᵀ, one per row
	ux, vx  []float64 // k x M and k x N singular vectors of X, one per row
	gramBuf []float64 // ℓ x ℓ
}

// xmul computes dst = X·b (M x ℓ) for b N x ℓ, where X is a (tall) or aᵀ.
func xmul(a Matrix, tall bool, l int, b, dst []float32) {
	if tall {
		kernels.Sgemm(false, false, a.Rows, l, a.Cols, 1, a.Data, a.Cols, b, l, 0, dst, l)
	} else {
		kernels.Sgemm(true, false, a.Cols, l, a.Rows, 1, a.Data, a.Cols, b, l, 0, dst, l)
	}
}

// xtmul computes dst = Xᵀ·b (N x ℓ) for b M x ℓ, where X is a (tall) or aᵀ.
func xtmul(a Matrix, tall bool, l int, b, dst []float32) {
	if tall {
		kernels.Sgemm(true, false, a.Cols, l, a.Rows, 1, a.Data, a.Cols, b, l, 0, dst, l)
	} else {
		kernels.Sgemm(false, false, a.Rows, l, a.Cols, 1, a.Data, a.Cols, b, l, 0, dst, l)
	}
}

// orth replaces the rows x cols float32 matrix s by an orthonormal basis of
// its column space (Householder QR in float64); the float64 basis is left in
// buf.
func (w *rsvdWork) orth(s []float32, rows, cols int, buf []float64) {
	for i, v := range s[:rows*cols] {
		buf[i] = float64(v)
	}
	g := blas64.General{Rows: rows, Cols: cols, Stride: cols, Data: buf[:rows*cols]}
	w.tau = grow64(w.tau, cols)
	if w.qrRows != rows || w.qrCols != cols || len(w.qrWork) == 0 {
		var q1, q2 [1]float64
		lapack64.Geqrf(g, w.tau, q1[:], -1)
		lapack64.Orgqr(g, w.tau, q2[:], -1)
		w.qrWork = grow64(w.qrWork, max(int(q1[0]), int(q2[0]), cols))
		w.qrRows, w.qrCols = rows, cols
	}
	lapack64.Geqrf(g, w.tau, w.qrWork, len(w.qrWork))
	lapack64.Orgqr(g, w.tau, w.qrWork, len(w.qrWork))
	for i, v := range buf[:rows*cols] {
		s[i] = float32(v)
	}
}

// lu replaces the rows x cols float32 matrix s (rows >= cols) by P·L from
// its LU factorization with partial pivoting, s = P·L·U (float64). P·L spans
// the column space of s (more, if s is rank deficient: a unit lower
// trapezoidal L always has full column rank), and its entries are bounded by
// 1, so its columns stay well conditioned.
func (w *rsvdWork) lu(s []float32, rows, cols int, buf []float64) {
	for i, v := range s[:rows*cols] {
		buf[i] = float64(v)
	}
	if cap(w.ipiv) < cols {
		w.ipiv = make([]int, cols)
	}
	ipiv := w.ipiv[:cols]
	lapack64.Getrf(blas64.General{Rows: rows, Cols: cols, Stride: cols, Data: buf[:rows*cols]}, ipiv)
	for i := range rows {
		for j := range cols {
			switch {
			case i > j:
				s[i*cols+j] = float32(buf[i*cols+j])
			case i == j:
				s[i*cols+j] = 1
			default:
				s[i*cols+j] = 0
			}
		}
	}
	// Getrf applied the interchanges i <-> ipiv[i] in order; undo them in
	// reverse to form P·L.
	for i := cols - 1; i >= 0; i-- {
		if p := ipiv[i]; p != i {
			ri, rp := s[i*cols:(i+1)*cols], s[p*cols:(p+1)*cols]
			for j := range ri {
				ri[j], rp[j] = rp[j], ri[j]
			}
		}
	}
}

func (w *rsvdWork) factorize(op string, cfg RandomizedConfig, a Matrix, r int, side Side, stream uint64, signs signMode) (Factors, error) {
	m, n := a.Rows, a.Cols
	k := EffectiveRank(r, m, n)
	tall := m >= n
	bigDim, smallDim := max(m, n), min(m, n)
	l := k + cfg.Oversample
	if l >= smallDim {
		return w.exact(op, a, r, side, signs)
	}

	w.omega = grow32(w.omega, smallDim*l)
	rng := rand.New(rand.NewPCG(cfg.Seed, stream))
	for i := range w.omega {
		w.omega[i] = float32(rng.NormFloat64())
	}
	w.y = grow32(w.y, bigDim*l)
	w.z = grow32(w.z, smallDim*l)
	w.q64 = grow64(w.q64, bigDim*l)
	w.z64 = grow64(w.z64, smallDim*l)

	// Intermediate bases only need well-conditioned columns (LU); the last
	// one is orthonormal (Householder QR).
	xmul(a, tall, l, w.omega, w.y)
	for range cfg.PowerIters {
		w.lu(w.y, bigDim, l, w.q64)
		xtmul(a, tall, l, w.y, w.z)
		w.lu(w.z, smallDim, l, w.z64)
		xmul(a, tall, l, w.z, w.y)
	}
	w.orth(w.y, bigDim, l, w.q64)
	// Bᵀ = Xᵀ·Q (N x ℓ); the Gram matrix of B is BBᵀ = (Bᵀ)ᵀBᵀ (ℓ x ℓ).
	xtmul(a, tall, l, w.y, w.z)
	for i, v := range w.z {
		w.z64[i] = float64(v)
	}
	bt := blas64.General{Rows: smallDim, Cols: l, Stride: l, Data: w.z64}
	w.gramBuf = grow64(w.gramBuf, l*l)
	c := blas64.Symmetric{N: l, Stride: l, Uplo: blas.Upper, Data: w.gramBuf}
	blas64.Syrk(blas.Trans, 1, bt, 0, c)
	if !w.symEig(c) {
		return Factors{}, fmt.Errorf("%s: the symmetric eigensolver did not converge on the %dx%d sketch of a %dx%d matrix", op, l, l, m, n)
	}

	w.small = grow64(w.small, k*l)
	w.sigma = grow64(w.sigma, k)
	for i := range k {
		col := l - 1 - i
		for j := range l {
			w.small[i*l+j] = w.gramBuf[j*l+col]
		}
		w.sigma[i] = math.Sqrt(max(w.eig[col], 0))
	}
	// Bᵀ carries float32 rounding of about sqrt(M)·eps32·σ₁.
	tol := math.Sqrt(float64(bigDim)) * 0x1p-24 * w.sigma[0]
	kept := 0
	for kept < k && w.sigma[kept] > tol {
		kept++
	}
	for i := kept; i < k; i++ {
		w.sigma[i] = 0
	}

	// Singular vectors of X: ux_i = Q·w_i (orthonormal by construction),
	// vx_i = Bᵀ·w_i/σ_i (re-orthonormalised).
	wk := blas64.General{Rows: k, Cols: l, Stride: l, Data: w.small}
	wantX := SideLeft // the side of X with bigDim entries
	wantXt := SideRight
	if !tall {
		wantX, wantXt = SideRight, SideLeft
	}
	okU, okV := 0, 0
	if side&wantX != 0 {
		w.ux = grow64(w.ux, k*bigDim)
		q := blas64.General{Rows: bigDim, Cols: l, Stride: l, Data: w.q64}
		blas64.Gemm(blas.NoTrans, blas.Trans, 1, wk, q, 0, blas64.General{Rows: k, Cols: bigDim, Stride: bigDim, Data: w.ux})
		okU = kept
		complete(w.ux, bigDim, okU, k)
	}
	if side&wantXt != 0 {
		w.vx = grow64(w.vx, k*smallDim)
		blas64.Gemm(blas.NoTrans, blas.Trans, 1, wk, bt, 0, blas64.General{Rows: k, Cols: smallDim, Stride: smallDim, Data: w.vx})
		for i := range kept {
			scale64(w.vx[i*smallDim:(i+1)*smallDim], 1/w.sigma[i])
		}
		okV = orthonormalize(w.vx, smallDim, 0, kept)
		complete(w.vx, smallDim, okV, k)
	}
	// Sign: the smaller-dimension side (vx) is canonical; ux follows it where
	// the two are paired, unless each side is to be signed on its own.
	paired := 0
	if side == SideBoth && signs == pairedSigns {
		paired = min(okU, okV)
	}
	for i := range paired {
		if fixSign(w.vx[i*smallDim : (i+1)*smallDim]) {
			scale64(w.ux[i*bigDim:(i+1)*bigDim], -1)
		}
	}
	if side&wantX != 0 {
		fixSigns(w.ux, bigDim, paired, k)
	}
	if side&wantXt != 0 {
		fixSigns(w.vx, smallDim, paired, k)
	}
	left, right := w.ux, w.vx
	if !tall {
		left, right = w.vx, w.ux
	}
	return w.output(m, n, k, left, right, w.sigma, side), nil
}
