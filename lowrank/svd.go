package lowrank

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack"
	"gonum.org/v1/gonum/lapack/lapack64"
)

// Side selects which singular vectors a factorization computes, and which side
// of a matrix a Projector projects.
type Side uint8

const (
	// SideLeft selects the left singular vectors U (the factor P, m x r).
	SideLeft Side = 1 << iota
	// SideRight selects the right singular vectors V (the factor Q = Vᵀ, r x n).
	SideRight
	// SideBoth selects both.
	SideBoth = SideLeft | SideRight
)

// String returns "left", "right" or "both".
func (s Side) String() string {
	switch s {
	case SideLeft:
		return "left"
	case SideRight:
		return "right"
	case SideBoth:
		return "both"
	}
	return fmt.Sprintf("Side(%d)", uint8(s))
}

func (s Side) valid() bool { return s == SideLeft || s == SideRight || s == SideBoth }

// EffectiveRank returns min(r, rows, cols), the number of singular vectors a
// compact SVD of a rows x cols matrix can supply for a requested rank r.
func EffectiveRank(r, rows, cols int) int { return max(0, min(r, rows, cols)) }

// Factors holds the leading singular triplets of a matrix A (m x n) in float32:
// A ≈ U·diag(S)·Vt. The matrices are views into the workspace of the
// decomposition that produced them and stay valid until its next call.
//
// Conventions, shared by SVD and RandomizedSVD:
//   - S is non-increasing; len(S) = min(r, m, n) is the effective rank.
//   - Singular values at the noise level of the computation are reported as 0,
//     and their vectors are replaced by a deterministic completion: canonical
//     basis vectors e_0, e_1, ... orthogonalised against the vectors already
//     chosen (those too close to the span are skipped). A zero matrix therefore
//     gives U = I[:, :k] and Vt = I[:k, :].
//   - Sign convention: a singular vector is signed so that its entry of
//     largest magnitude is positive; among entries within a relative 1e-9 of
//     the largest, the first decides, so rounding cannot flip a tie. With one
//     side requested, all its vectors follow the convention, so A and −A give
//     identical vectors. With SideBoth, the vectors of the smaller dimension
//     (V if m >= n, U otherwise) follow it and their partners are signed to
//     match, so that U·diag(S)·Vt is the truncated SVD of A; for zero singular
//     values both follow it. (A Projector of type ProjFull instead signs P and
//     Q independently.)
type Factors struct {
	U  Matrix    // m x k, left singular vectors as columns; empty unless SideLeft was requested
	S  []float32 // k singular values, non-increasing
	Vt Matrix    // k x n, right singular vectors as rows; empty unless SideRight was requested
}

// Rank returns the effective rank k = len(f.S).
func (f Factors) Rank() int { return len(f.S) }

// SVD computes truncated singular value decompositions of float32 matrices in
// float64 arithmetic, through the eigen-decomposition of the smaller Gram
// matrix (AᵀA or AAᵀ, accumulated in float64 from exact float64 copies of the
// float32 entries, then LAPACK's symmetric eigensolver); the vectors of the
// other side are A·v/σ, re-orthonormalised. Relative to the float32 input this
// is as accurate as a float32 SVD, and the Gram route needs only
// O(min(m,n)² + r·max(m,n)) float64 workspace, never a float64 copy of A.
// Costs O(mn·min(m,n) + min(m,n)³); see RandomizedSVD for large matrices.
//
// The zero value is ready to use. Its workspace grows to the largest matrix
// seen and is reused, so repeated calls on one shape do not allocate. An SVD
// must not be used by several goroutines at once.
type SVD struct {
	w svdWork
}

// Factorize computes the top r singular values of a and the singular vectors
// of the requested side(s). The rank is clamped to min(r, a.Rows, a.Cols); the
// Factors report it. It returns an error wrapping ErrNotFinite if a holds a
// NaN or an infinity. r < 1, an empty a or an invalid side is a programmer
// error and panics.
func (d *SVD) Factorize(a Matrix, r int, side Side) (Factors, error) {
	const op = "lowrank.SVD.Factorize"
	checkFactorizeArgs(op, a, r, side)
	if err := notFinite(op, "matrix", a); err != nil {
		return Factors{}, err
	}
	return d.w.exact(op, a, r, side, pairedSigns)
}

func checkFactorizeArgs(op string, a Matrix, r int, side Side) {
	checkData(op, "matrix", a)
	if a.Empty() {
		panic(fmt.Sprintf("%s: empty %dx%d matrix", op, a.Rows, a.Cols))
	}
	if r < 1 {
		panic(fmt.Sprintf("%s: rank %d < 1 for a %dx%d matrix", op, r, a.Rows, a.Cols))
	}
	if !side.valid() {
		panic(fmt.Sprintf("%s: invalid side %v", op, side))
	}
}

// panelWidth is the number of rows (or columns) of the float32 input
// converted to float64 at a time; it bounds the float64 copy of the input.
const panelWidth = 64

// svdWork is the reusable workspace of the exact SVD.
type svdWork struct {
	panel  []float64 // a block of rows or columns of the input, as float64
	gram   []float64 // d x d Gram matrix; eigenvectors (as columns) after Syev
	eig    []float64 // d eigenvalues, ascending
	lwork  []float64 // LAPACK workspace
	lworkN int       // order the LAPACK workspace was sized for
	direct []float64 // k x d: singular vectors of the Gram side, one per row
	other  []float64 // k x D: singular vectors of the other side, one per row
	sigma  []float64 // k singular values
	u32    []float32 // m x k output
	vt32   []float32 // k x n output
	s32    []float32 // k output
}

func grow64(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	return s[:n]
}

func grow32(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// gramOf sets w.gram to AᵀA (tall: m >= n) or AAᵀ (upper triangle), accumulating
// float64 panels of at most panelWidth rows (tall) or columns of a.
func (w *svdWork) gramOf(a Matrix, tall bool) blas64.Symmetric {
	m, n := a.Rows, a.Cols
	d := min(m, n)
	w.gram = grow64(w.gram, d*d)
	c := blas64.Symmetric{N: d, Stride: d, Uplo: blas.Upper, Data: w.gram}
	beta := 0.0
	if tall {
		for i0 := 0; i0 < m; i0 += panelWidth {
			p := w.rowPanel(a, i0, min(i0+panelWidth, m))
			blas64.Syrk(blas.Trans, 1, p, beta, c)
			beta = 1
		}
	} else {
		for j0 := 0; j0 < n; j0 += panelWidth {
			p := w.colPanel(a, j0, min(j0+panelWidth, n))
			blas64.Syrk(blas.NoTrans, 1, p, beta, c)
			beta = 1
		}
	}
	return c
}

// rowPanel returns rows [i0, i1) of a as a float64 matrix.
func (w *svdWork) rowPanel(a Matrix, i0, i1 int) blas64.General {
	n := a.Cols
	w.panel = grow64(w.panel, (i1-i0)*n)
	for i, v := range a.Data[i0*n : i1*n] {
		w.panel[i] = float64(v)
	}
	return blas64.General{Rows: i1 - i0, Cols: n, Stride: n, Data: w.panel}
}

// colPanel returns columns [j0, j1) of a as a float64 matrix.
func (w *svdWork) colPanel(a Matrix, j0, j1 int) blas64.General {
	m, n, b := a.Rows, a.Cols, j1-j0
	w.panel = grow64(w.panel, m*b)
	for i := range m {
		row := a.Data[i*n+j0 : i*n+j1]
		dst := w.panel[i*b : (i+1)*b]
		for j, v := range row {
			dst[j] = float64(v)
		}
	}
	return blas64.General{Rows: m, Cols: b, Stride: b, Data: w.panel}
}

// symEig runs LAPACK's symmetric eigensolver on c in place (eigenvectors as
// columns, eigenvalues ascending in w.eig).
func (w *svdWork) symEig(c blas64.Symmetric) bool {
	w.eig = grow64(w.eig, c.N)
	if w.lworkN != c.N || len(w.lwork) == 0 {
		var q [1]float64
		lapack64.Syev(lapack.EVCompute, c, w.eig, q[:], -1)
		w.lwork = grow64(w.lwork, int(q[0]))
		w.lworkN = c.N
	}
	return lapack64.Syev(lapack.EVCompute, c, w.eig, w.lwork, len(w.lwork))
}

// signMode says how the vectors of two sides are signed.
type signMode uint8

const (
	// pairedSigns applies the sign convention to the vectors of the smaller
	// dimension and signs their partners so that U·diag(S)·Vt approximates A.
	pairedSigns signMode = iota
	// independentSigns applies the sign convention to every vector.
	independentSigns
)

// exact computes the factorization described at SVD.
func (w *svdWork) exact(op string, a Matrix, r int, side Side, signs signMode) (Factors, error) {
	m, n := a.Rows, a.Cols
	k := EffectiveRank(r, m, n)
	tall := m >= n
	d, big := min(m, n), max(m, n)

	c := w.gramOf(a, tall)
	if !w.symEig(c) {
		return Factors{}, fmt.Errorf("%s: the symmetric eigensolver did not converge on the %dx%d Gram matrix of a %dx%d matrix", op, d, d, m, n)
	}

	// Leading k eigenpairs, largest first.
	w.direct = grow64(w.direct, k*d)
	w.sigma = grow64(w.sigma, k)
	for i := range k {
		col := d - 1 - i
		v := w.direct[i*d : (i+1)*d]
		for j := range d {
			v[j] = w.gram[j*d+col]
		}
		w.sigma[i] = math.Sqrt(max(w.eig[col], 0))
	}
	// Eigenvalues of the float64 Gram matrix are accurate to about
	// big·eps·λmax; anything below that is a zero singular value.
	lmax := w.eig[d-1]
	tol := float64(big) * 0x1p-52 * lmax
	kept := 0
	for kept < k && lmax > 0 && w.eig[d-1-kept] > tol {
		kept++
	}
	for i := kept; i < k; i++ {
		w.sigma[i] = 0
	}

	directSide, otherSide := SideRight, SideLeft
	if !tall {
		directSide, otherSide = SideLeft, SideRight
	}
	// Sign the Gram-side vectors first, so derived vectors come out paired.
	fixSigns(w.direct, d, 0, kept)
	if side&otherSide != 0 {
		w.other = grow64(w.other, k*big)
		w.derive(a, tall, kept)
		ok := orthonormalize(w.other, big, 0, kept)
		complete(w.other, big, ok, k)
		from := ok
		if side != SideBoth || signs == independentSigns {
			from = 0
		}
		fixSigns(w.other, big, from, k)
	}
	if side&directSide != 0 {
		complete(w.direct, d, kept, k)
		fixSigns(w.direct, d, kept, k)
	}
	left, right := w.direct, w.other
	if tall {
		left, right = w.other, w.direct
	}
	return w.output(m, n, k, left, right, w.sigma, side), nil
}

// derive sets rows [0, kept) of w.other to A·v_i/σ_i (tall, v_i = direct row
// i) or Aᵀ·u_i/σ_i (wide), multiplying float64 panels of a.
func (w *svdWork) derive(a Matrix, tall bool, kept int) {
	m, n := a.Rows, a.Cols
	if kept == 0 {
		return
	}
	if tall {
		vk := blas64.General{Rows: kept, Cols: n, Stride: n, Data: w.direct[:kept*n]}
		for i0 := 0; i0 < m; i0 += panelWidth {
			i1 := min(i0+panelWidth, m)
			p := w.rowPanel(a, i0, i1)
			dst := blas64.General{Rows: kept, Cols: i1 - i0, Stride: m, Data: w.other[i0:]}
			blas64.Gemm(blas.NoTrans, blas.Trans, 1, vk, p, 0, dst)
		}
	} else {
		uk := blas64.General{Rows: kept, Cols: m, Stride: m, Data: w.direct[:kept*m]}
		for j0 := 0; j0 < n; j0 += panelWidth {
			j1 := min(j0+panelWidth, n)
			p := w.colPanel(a, j0, j1)
			dst := blas64.General{Rows: kept, Cols: j1 - j0, Stride: n, Data: w.other[j0:]}
			blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, uk, p, 0, dst)
		}
	}
	big := max(m, n)
	for i := range kept {
		s := 1 / w.sigma[i]
		v := w.other[i*big : (i+1)*big]
		for j := range v {
			v[j] *= s
		}
	}
}

// output converts the float64 vectors to the float32 Factors.
func (w *svdWork) output(m, n, k int, left, right, sigma []float64, side Side) Factors {
	var f Factors
	w.s32 = grow32(w.s32, k)
	for i := range k {
		w.s32[i] = float32(sigma[i])
	}
	f.S = w.s32
	if side&SideLeft != 0 {
		w.u32 = grow32(w.u32, m*k)
		for i := range k {
			v := left[i*m : (i+1)*m]
			for row, x := range v {
				w.u32[row*k+i] = float32(x)
			}
		}
		f.U = Matrix{Rows: m, Cols: k, Data: w.u32}
	}
	if side&SideRight != 0 {
		w.vt32 = grow32(w.vt32, k*n)
		for i, x := range right[:k*n] {
			w.vt32[i] = float32(x)
		}
		f.Vt = Matrix{Rows: k, Cols: n, Data: w.vt32}
	}
	return f
}

// orthonormalize applies two passes of modified Gram-Schmidt to rows
// [from, to) of vecs (rows of length dim) against all earlier rows and
// normalises them. It returns the number of leading rows that are orthonormal:
// it stops at the first row that loses more than half its norm, whose
// direction is then numerically unreliable.
func orthonormalize(vecs []float64, dim, from, to int) int {
	for i := from; i < to; i++ {
		v := vecs[i*dim : (i+1)*dim]
		before := math.Sqrt(dot64(v, v))
		for range 2 {
			for j := range i {
				q := vecs[j*dim : (j+1)*dim]
				axpy64(v, -dot64(q, v), q)
			}
		}
		after := math.Sqrt(dot64(v, v))
		if !(after > 0.5*before) || after == 0 {
			return i
		}
		scale64(v, 1/after)
	}
	return to
}

// complete fills rows [from, to) of vecs with the deterministic completion:
// canonical basis vectors, in order, orthogonalised (twice) against all rows
// chosen so far. A candidate whose squared residual is below 1/(2·dim) is
// skipped; one above it always exists among the remaining candidates, because
// the squared residuals of all dim candidates sum to dim − i ≥ 1 and the
// skipped ones contribute less than 1/2.
func complete(vecs []float64, dim, from, to int) {
	if from >= to {
		return
	}
	thr := 1 / (2 * float64(dim))
	j := 0
	for i := from; i < to; i++ {
		v := vecs[i*dim : (i+1)*dim]
		for ; j < dim; j++ {
			clear(v)
			v[j] = 1
			for range 2 {
				for l := range i {
					q := vecs[l*dim : (l+1)*dim]
					axpy64(v, -dot64(q, v), q)
				}
			}
			if n2 := dot64(v, v); n2 >= thr {
				scale64(v, 1/math.Sqrt(n2))
				break
			}
		}
		if j == dim {
			panic(fmt.Sprintf("lowrank: basis completion of %d vectors of length %d found no candidate", to, dim))
		}
		j++
	}
}

// signTieTol is the relative tolerance within which entries count as tied
// for the largest magnitude in the sign convention.
const signTieTol = 1e-9

// fixSigns applies the sign convention to rows [from, to) of vecs.
func fixSigns(vecs []float64, dim, from, to int) {
	for i := from; i < to; i++ {
		fixSign(vecs[i*dim : (i+1)*dim])
	}
}

// fixSign negates v if its first entry of (near-)largest magnitude is
// negative, and reports whether it did.
func fixSign(v []float64) bool {
	big := 0.0
	for _, x := range v {
		big = max(big, math.Abs(x))
	}
	lim := big * (1 - signTieTol)
	for _, x := range v {
		if math.Abs(x) >= lim {
			if x < 0 {
				scale64(v, -1)
				return true
			}
			return false
		}
	}
	return false
}

func dot64(a, b []float64) float64 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func axpy64(dst []float64, alpha float64, x []float64) {
	x = x[:len(dst)]
	for i, v := range x {
		dst[i] += alpha * v
	}
}

func scale64(v []float64, s float64) {
	for i := range v {
		v[i] *= s
	}
}
