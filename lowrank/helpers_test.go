package lowrank

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/mat"
)

func newRNG(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x6b696c6e)) }

// fromRows builds a Matrix from float64 rows.
func fromRows(rows [][]float64) Matrix {
	a := NewMatrix(len(rows), len(rows[0]))
	for i, r := range rows {
		for j, v := range r {
			a.Data[i*a.Cols+j] = float32(v)
		}
	}
	return a
}

func randn(rng *rand.Rand, m, n int) Matrix {
	a := NewMatrix(m, n)
	for i := range a.Data {
		a.Data[i] = float32(rng.NormFloat64())
	}
	return a
}

// randOrtho returns an n x k matrix with orthonormal columns.
func randOrtho(rng *rand.Rand, n, k int) *mat.Dense {
	g := mat.NewDense(n, k, nil)
	for i := range n {
		for j := range k {
			g.Set(i, j, rng.NormFloat64())
		}
	}
	var qr mat.QR
	qr.Factorize(g)
	var q mat.Dense
	qr.QTo(&q)
	return mat.DenseCopyOf(q.Slice(0, n, 0, k))
}

// withSpectrum returns an m x n matrix U·diag(s)·Vᵀ with random orthonormal
// U, V and the given singular values (len(s) <= min(m, n)).
func withSpectrum(rng *rand.Rand, m, n int, s []float64) Matrix {
	k := len(s)
	u := randOrtho(rng, m, k)
	v := randOrtho(rng, n, k)
	for j := range k {
		for i := range m {
			u.Set(i, j, u.At(i, j)*s[j])
		}
	}
	var a mat.Dense
	a.Mul(u, v.T())
	out := NewMatrix(m, n)
	for i := range m {
		for j := range n {
			out.Data[i*n+j] = float32(a.At(i, j))
		}
	}
	return out
}

func toDense(a Matrix) *mat.Dense {
	d := mat.NewDense(a.Rows, a.Cols, nil)
	for i := range a.Rows {
		for j := range a.Cols {
			d.Set(i, j, float64(a.Data[i*a.Cols+j]))
		}
	}
	return d
}

func transpose(a Matrix) Matrix {
	t := NewMatrix(a.Cols, a.Rows)
	for i := range a.Rows {
		for j := range a.Cols {
			t.Data[j*a.Rows+i] = a.Data[i*a.Cols+j]
		}
	}
	return t
}

func neg(a Matrix) Matrix {
	b := NewMatrix(a.Rows, a.Cols)
	for i, v := range a.Data {
		b.Data[i] = -v
	}
	return b
}

func clone(a Matrix) Matrix {
	return Matrix{Rows: a.Rows, Cols: a.Cols, Data: append([]float32(nil), a.Data...)}
}

// refSVD is gonum's SVD of the float32 matrix in float64.
func refSVD(t *testing.T, a Matrix) (u *mat.Dense, s []float64, v *mat.Dense) {
	t.Helper()
	var svd mat.SVD
	require.True(t, svd.Factorize(toDense(a), mat.SVDThin))
	u, v = new(mat.Dense), new(mat.Dense)
	svd.UTo(u)
	svd.VTo(v)
	return u, svd.Values(nil), v
}

// maxAbsDiff returns max |a_i − b_i|.
func maxAbsDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

// orthoError returns max |(XᵀX − I)_ij| for the columns (cols=true) or rows of x.
func orthoError(x Matrix, cols bool) float64 {
	d := toDense(x)
	var g mat.Dense
	if cols {
		g.Mul(d.T(), d)
	} else {
		g.Mul(d, d.T())
	}
	r, _ := g.Dims()
	e := 0.0
	for i := range r {
		for j := range r {
			want := 0.0
			if i == j {
				want = 1
			}
			e = math.Max(e, math.Abs(g.At(i, j)-want))
		}
	}
	return e
}

// column returns column j of a as float64.
func column(a Matrix, j int) []float64 {
	c := make([]float64, a.Rows)
	for i := range a.Rows {
		c[i] = float64(a.Data[i*a.Cols+j])
	}
	return c
}

// row returns row i of a as float64.
func row(a Matrix, i int) []float64 {
	r := make([]float64, a.Cols)
	for j := range a.Cols {
		r[j] = float64(a.Data[i*a.Cols+j])
	}
	return r
}

// largestPositive reports whether the first entry of (near-)largest magnitude is positive.
func largestPositive(v []float64) bool {
	big := 0.0
	for _, x := range v {
		big = math.Max(big, math.Abs(x))
	}
	for _, x := range v {
		if math.Abs(x) >= big*(1-1e-6) {
			return x > 0
		}
	}
	return false
}

func dotF(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}
