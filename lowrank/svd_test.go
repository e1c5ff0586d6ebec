package lowrank

import (
	"errors"
	"math"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEffectiveRank(t *testing.T) {
	assert.Equal(t, 2, EffectiveRank(5, 3, 2))
	assert.Equal(t, 2, EffectiveRank(5, 2, 3))
	assert.Equal(t, 1, EffectiveRank(1, 7, 9))
	assert.Equal(t, 4, EffectiveRank(4, 4, 4))
}

// The spec's intermediate values of the shared problem (§12, "Intermediate").
// The golden values are for the decimal entries; the float32 entries differ by
// up to 3e-8 relative, which bounds the agreement.
func TestSVDGoldenSharedProblem(t *testing.T) {
	g1 := fromRows(sharedG[0])
	var d SVD
	f, err := d.Factorize(g1, 2, SideRight)
	require.NoError(t, err)
	wantSigma2 := []float64{0.393615414617, 0.196384585383}
	for i, want := range wantSigma2 {
		assert.InDelta(t, want, float64(f.S[i])*float64(f.S[i]), 1e-7, "σ²[%d]", i)
	}
	// Sign convention: largest-|entry| positive gives +[0.9649, −0.2627].
	assert.InDelta(t, 0.964866367731, float64(f.Vt.Data[0]), 1e-7)
	assert.InDelta(t, -0.262741112925, float64(f.Vt.Data[1]), 1e-7)
}

// The float64 core agrees with gonum's SVD to float64 precision on the exact
// values of float32 inputs.
func TestSVDFloat64Accuracy(t *testing.T) {
	rng := newRNG(11)
	for _, sh := range [][2]int{{3, 2}, {2, 3}, {30, 12}, {12, 30}} {
		m, n := sh[0], sh[1]
		var a Matrix
		if m == 3 || m == 2 && n == 3 {
			a = fromRows(sharedG[0])
			if m == 2 {
				a = transpose(a)
			}
		} else {
			a = withSpectrum(rng, m, n, []float64{5, 4, 3, 2, 1, 0.5, 0.25, 0.1})
		}
		refU, refS, refV := refSVD(t, a)
		var w svdWork
		k := min(m, n, 6)
		_, err := w.exact("test", a, k, SideBoth, pairedSigns)
		require.NoError(t, err)
		left, right := w.other, w.direct
		if m < n {
			left, right = w.direct, w.other
		}
		for i := range k {
			if refS[i] < 1e-6*refS[0] {
				break
			}
			assert.InDelta(t, refS[i], w.sigma[i], 1e-12*refS[0], "%dx%d σ%d", m, n, i)
			su, sv := 0.0, 0.0
			for r := range m {
				su += left[i*m+r] * refU.At(r, i)
			}
			for c := range n {
				sv += right[i*n+c] * refV.At(c, i)
			}
			assert.InDelta(t, 1, math.Abs(su), 1e-12, "%dx%d u%d", m, n, i)
			assert.InDelta(t, 1, math.Abs(sv), 1e-12, "%dx%d v%d", m, n, i)
		}
	}
}

func TestSVDMatchesReference(t *testing.T) {
	rng := newRNG(1)
	for _, sh := range [][2]int{{7, 5}, {5, 7}, {6, 6}, {1, 4}, {4, 1}, {40, 13}, {13, 40}} {
		m, n := sh[0], sh[1]
		a := randn(rng, m, n)
		refU, refS, refV := refSVD(t, a)
		var d SVD
		k := min(m, n)
		f, err := d.Factorize(a, k, SideBoth)
		require.NoError(t, err)
		require.Equal(t, k, f.Rank())
		require.Equal(t, [2]int{m, k}, [2]int{f.U.Rows, f.U.Cols})
		require.Equal(t, [2]int{k, n}, [2]int{f.Vt.Rows, f.Vt.Cols})
		for i := range k {
			assert.InDelta(t, refS[i], float64(f.S[i]), 1e-5*refS[0], "%dx%d σ%d", m, n, i)
			// Same vectors up to sign (random matrices have distinct σ).
			u, v := column(f.U, i), row(f.Vt, i)
			ru := make([]float64, m)
			for r := range m {
				ru[r] = refU.At(r, i)
			}
			rv := make([]float64, n)
			for c := range n {
				rv[c] = refV.At(c, i)
			}
			assert.InDelta(t, 1, math.Abs(dotF(u, ru)), 1e-5, "%dx%d u%d", m, n, i)
			assert.InDelta(t, 1, math.Abs(dotF(v, rv)), 1e-5, "%dx%d v%d", m, n, i)
			// u and v pair up: A·v = σ·u.
			av := make([]float64, m)
			for r := range m {
				av[r] = dotF(row(a, r), v)
			}
			assert.InDelta(t, float64(f.S[i]), math.Abs(dotF(av, u)), 1e-5*refS[0])
		}
		assert.Less(t, orthoError(f.U, true), 1e-6)
		assert.Less(t, orthoError(f.Vt, false), 1e-6)
	}
}

func TestSVDSignConvention(t *testing.T) {
	rng := newRNG(2)
	for _, sh := range [][2]int{{9, 4}, {4, 9}} {
		m, n := sh[0], sh[1]
		a := randn(rng, m, n)
		var d SVD
		f, err := d.Factorize(a, 3, SideLeft)
		require.NoError(t, err)
		for i := range 3 {
			assert.True(t, largestPositive(column(f.U, i)), "u%d", i)
		}
		f, err = d.Factorize(a, 3, SideRight)
		require.NoError(t, err)
		for i := range 3 {
			assert.True(t, largestPositive(row(f.Vt, i)), "v%d", i)
		}
		// Both sides: the smaller dimension's vectors are canonical and the
		// pairs satisfy A·v = +σ·u.
		f, err = d.Factorize(a, 3, SideBoth)
		require.NoError(t, err)
		for i := range 3 {
			if m >= n {
				assert.True(t, largestPositive(row(f.Vt, i)), "v%d", i)
			} else {
				assert.True(t, largestPositive(column(f.U, i)), "u%d", i)
			}
			v, u := row(f.Vt, i), column(f.U, i)
			uav := 0.0
			for r := range m {
				uav += u[r] * dotF(row(a, r), v)
			}
			assert.InDelta(t, float64(f.S[i]), uav, 1e-5)
		}
	}
	// An exact tie: the first of the tied entries is made positive.
	var d SVD
	for _, a := range []Matrix{fromRows([][]float64{{1, -1}}), fromRows([][]float64{{-1, 1}})} {
		f, err := d.Factorize(a, 1, SideRight)
		require.NoError(t, err)
		assert.InDelta(t, math.Sqrt(0.5), float64(f.Vt.Data[0]), 1e-7)
		assert.InDelta(t, -math.Sqrt(0.5), float64(f.Vt.Data[1]), 1e-7)
	}
}

// A and −A give bit-identical vectors of a requested side; with both sides,
// the canonical side is identical and its partners are negated.
func TestSVDNegationInvariant(t *testing.T) {
	rng := newRNG(3)
	for _, sh := range [][2]int{{12, 5}, {5, 12}, {6, 6}} {
		m, n := sh[0], sh[1]
		a := randn(rng, m, n)
		for _, side := range []Side{SideLeft, SideRight} {
			var d1, d2 SVD
			f1, err := d1.Factorize(a, 3, side)
			require.NoError(t, err)
			f2, err := d2.Factorize(neg(a), 3, side)
			require.NoError(t, err)
			assert.Equal(t, f1.U.Data, f2.U.Data)
			assert.Equal(t, f1.Vt.Data, f2.Vt.Data)
			assert.Equal(t, f1.S, f2.S)
		}
		var d1, d2 SVD
		f1, err := d1.Factorize(a, 3, SideBoth)
		require.NoError(t, err)
		f2, err := d2.Factorize(neg(a), 3, SideBoth)
		require.NoError(t, err)
		if m >= n {
			assert.Equal(t, f1.Vt.Data, f2.Vt.Data)
			assert.Equal(t, f1.U.Data, neg(f2.U).Data)
		} else {
			assert.Equal(t, f1.U.Data, f2.U.Data)
			assert.Equal(t, f1.Vt.Data, neg(f2.Vt).Data)
		}
	}
}

// The factors of Aᵀ are those of A with the sides swapped.
func TestSVDTranspose(t *testing.T) {
	rng := newRNG(4)
	a := randn(rng, 11, 6)
	var d1, d2 SVD
	f1, err := d1.Factorize(a, 4, SideBoth)
	require.NoError(t, err)
	f2, err := d2.Factorize(transpose(a), 4, SideBoth)
	require.NoError(t, err)
	assert.Less(t, maxAbsDiff(f1.U.Data, transpose(f2.Vt).Data), 1e-5)
	assert.Less(t, maxAbsDiff(f1.Vt.Data, transpose(f2.U).Data), 1e-5)
	assert.Less(t, maxAbsDiff(f1.S, f2.S), 1e-5)
}

func TestSVDSidesAgree(t *testing.T) {
	rng := newRNG(5)
	for _, sh := range [][2]int{{10, 4}, {4, 10}} {
		m, n := sh[0], sh[1]
		a := randn(rng, m, n)
		var d SVD
		both, err := d.Factorize(a, 3, SideBoth)
		require.NoError(t, err)
		u, vt := clone(both.U), clone(both.Vt)
		l, err := d.Factorize(a, 3, SideLeft)
		require.NoError(t, err)
		assert.True(t, l.Vt.Empty())
		lu := clone(l.U)
		r, err := d.Factorize(a, 3, SideRight)
		require.NoError(t, err)
		assert.True(t, r.U.Empty())
		if m >= n {
			assert.Equal(t, vt.Data, r.Vt.Data)
		} else {
			assert.Equal(t, u.Data, lu.Data)
		}
		// The other side agrees up to the sign of each vector.
		for i := range 3 {
			assert.InDelta(t, 1, math.Abs(dotF(column(u, i), column(lu, i))), 1e-6)
			assert.InDelta(t, 1, math.Abs(dotF(row(vt, i), row(r.Vt, i))), 1e-6)
		}
	}
}

func TestSVDRankClamp(t *testing.T) {
	rng := newRNG(6)
	a := randn(rng, 3, 5)
	var d SVD
	f, err := d.Factorize(a, 10, SideBoth)
	require.NoError(t, err)
	assert.Equal(t, 3, f.Rank())
	assert.Equal(t, 3, f.U.Cols)
	assert.Equal(t, 3, f.Vt.Rows)
	// At full rank U·diag(S)·Vt reproduces A.
	for i := range 3 {
		for j := range 5 {
			s := 0.0
			for l := range 3 {
				s += float64(f.U.At(i, l)) * float64(f.S[l]) * float64(f.Vt.At(l, j))
			}
			assert.InDelta(t, float64(a.At(i, j)), s, 1e-5)
		}
	}
}

func TestSVDZeroMatrix(t *testing.T) {
	for _, sh := range [][2]int{{5, 3}, {3, 5}} {
		m, n := sh[0], sh[1]
		var d SVD
		f, err := d.Factorize(NewMatrix(m, n), 2, SideBoth)
		require.NoError(t, err)
		assert.Equal(t, []float32{0, 0}, f.S)
		for i := range m {
			for l := range 2 {
				want := float32(0)
				if i == l {
					want = 1
				}
				assert.Equal(t, want, f.U.At(i, l))
			}
		}
		for l := range 2 {
			for j := range n {
				want := float32(0)
				if j == l {
					want = 1
				}
				assert.Equal(t, want, f.Vt.At(l, j))
			}
		}
	}
}

// Zero singular values get the deterministic completion: orthonormal, orthogonal
// to the non-null vectors, the same on every call and for every input with the
// same non-null part.
func TestSVDRankDeficientCompletion(t *testing.T) {
	rng := newRNG(7)
	for _, sh := range [][2]int{{9, 6}, {6, 9}} {
		m, n := sh[0], sh[1]
		a := withSpectrum(rng, m, n, []float64{3, 1})
		var d SVD
		f, err := d.Factorize(a, 5, SideBoth)
		require.NoError(t, err)
		assert.InDelta(t, 3, float64(f.S[0]), 1e-5)
		assert.InDelta(t, 1, float64(f.S[1]), 1e-5)
		assert.Equal(t, []float32{0, 0, 0}, f.S[2:])
		assert.Less(t, orthoError(f.U, true), 1e-6)
		assert.Less(t, orthoError(f.Vt, false), 1e-6)
		// Completion vectors are null vectors: A·v = 0 and uᵀA = 0.
		for l := 2; l < 5; l++ {
			v := row(f.Vt, l)
			for i := range m {
				assert.InDelta(t, 0, dotF(row(a, i), v), 1e-5)
			}
			u := column(f.U, l)
			for j := range n {
				assert.InDelta(t, 0, dotF(column(a, j), u), 1e-5)
			}
			assert.True(t, largestPositive(v))
			assert.True(t, largestPositive(u))
		}
		u1, v1 := clone(f.U), clone(f.Vt)
		var d2 SVD
		f2, err := d2.Factorize(a, 5, SideBoth)
		require.NoError(t, err)
		assert.Equal(t, u1.Data, f2.U.Data)
		assert.Equal(t, v1.Data, f2.Vt.Data)
	}
}

func TestCompleteSkipsDependentCandidates(t *testing.T) {
	// The kept vector is e_0 itself: e_0 must be skipped, e_1, e_2 taken.
	vecs := make([]float64, 3*3)
	vecs[0] = 1
	complete(vecs, 3, 1, 3)
	assert.Equal(t, []float64{1, 0, 0, 0, 1, 0, 0, 0, 1}, vecs)
	// A kept vector close to e_0: the completion stays orthonormal.
	vecs = []float64{1, 1e-9, 0, 0, 0, 0}
	scale64(vecs[:3], 1/math.Sqrt(dot64(vecs[:3], vecs[:3])))
	complete(vecs, 3, 1, 2)
	assert.InDelta(t, 0, dot64(vecs[:3], vecs[3:]), 1e-15)
	assert.InDelta(t, 1, dot64(vecs[3:], vecs[3:]), 1e-15)
}

func TestSVDNonFinite(t *testing.T) {
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
		a := randn(newRNG(8), 4, 3)
		a.Set(2, 1, bad)
		var d SVD
		_, err := d.Factorize(a, 2, SideBoth)
		require.Error(t, err)
		assert.True(t, errors.Is(err, ErrNotFinite))
		assert.Contains(t, err.Error(), "(2, 1)")
	}
}

func TestSVDPanics(t *testing.T) {
	var d SVD
	assert.Panics(t, func() { _, _ = d.Factorize(NewMatrix(3, 2), 0, SideBoth) })
	assert.Panics(t, func() { _, _ = d.Factorize(NewMatrix(0, 2), 1, SideBoth) })
	assert.Panics(t, func() { _, _ = d.Factorize(Matrix{Rows: 2, Cols: 2, Data: make([]float32, 3)}, 1, SideBoth) })
	assert.Panics(t, func() { _, _ = d.Factorize(NewMatrix(3, 2), 1, Side(0)) })
}

func TestFirstNonFinite(t *testing.T) {
	x := make([]float32, 3000)
	assert.Equal(t, -1, firstNonFinite(x))
	for _, i := range []int{0, 3, 1023, 1024, 2999} {
		x[i] = float32(math.Inf(1))
		assert.Equal(t, i, firstNonFinite(x))
		x[i] = float32(math.NaN())
		assert.Equal(t, i, firstNonFinite(x))
		x[i] = math.MaxFloat32
		assert.Equal(t, -1, firstNonFinite(x))
		x[i] = 0
	}
	// Huge finite entries whose sum overflows are still finite.
	x[5], x[6], x[7] = math.MaxFloat32, math.MaxFloat32, -math.MaxFloat32
	assert.Equal(t, -1, firstNonFinite(x))
}

// gonum's parallel matrix multiply (used inside the eigensolver) and the
// kernels split work by fixed blocks, so results do not depend on GOMAXPROCS.
func TestSVDDeterministicAcrossProcs(t *testing.T) {
	a := randn(newRNG(12), 300, 200)
	run := func(procs int) (Matrix, Matrix) {
		old := runtime.GOMAXPROCS(procs)
		defer runtime.GOMAXPROCS(old)
		var d SVD
		f, err := d.Factorize(a, 20, SideBoth)
		require.NoError(t, err)
		r, err := NewRandomizedSVD(DefaultRandomizedConfig())
		require.NoError(t, err)
		fr, err := r.Factorize(a, 20, SideBoth, 1)
		require.NoError(t, err)
		return clone(f.U), clone(fr.U)
	}
	u1, r1 := run(1)
	u4, r4 := run(4)
	assert.Equal(t, u1.Data, u4.Data)
	assert.Equal(t, r1.Data, r4.Data)
}
