package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
)

// gemmEachPath runs fn as a subtest on every kernel path this machine can
// run, and on each GEMM variant of a path that has several, restoring the
// active path afterwards.
func gemmEachPath(t *testing.T, fn func(t *testing.T, g *gemmKernels)) {
	t.Helper()
	forEachGemmVariant(func(name string, run func(func())) {
		t.Run(name, func(t *testing.T) { run(func() { fn(t, &active.gemm) }) })
	})
}

// forEachGemmVariant calls visit for every kernel path; run installs the
// path for the duration of its argument.
func forEachGemmVariant(visit func(name string, run func(func()))) {
	prev := Path()
	defer func() { _ = Use(prev) }()
	for _, path := range Available() {
		visit(path, func(f func()) {
			if err := Use(path); err != nil {
				panic(err)
			}
			f()
		})
	}
}

// gemmWithMode forces the direct or packed driver (or neither, for
// gemmAuto) while fn runs.
func gemmWithMode(mode int, fn func()) {
	prev := gemmForceMode
	gemmForceMode = mode
	defer func() { gemmForceMode = prev }()
	fn()
}

func gemmWithThreads(n int, fn func()) {
	prev := Threads()
	SetThreads(n)
	defer SetThreads(prev)
	fn()
}

// gemmCase is one Sgemm call. The pads are added to the natural leading
// dimension of each matrix.
type gemmCase struct {
	transA, transB   bool
	m, n, k          int
	alpha, beta      float32
	padA, padB, padC int
}

func (c gemmCase) String() string {
	t := func(b bool) string {
		if b {
			return "T"
		}
		return "N"
	}
	return fmt.Sprintf("%s%s_m%d_n%d_k%d_a%g_b%g_pad%d.%d.%d", t(c.transA), t(c.transB), c.m, c.n, c.k, c.alpha, c.beta, c.padA, c.padB, c.padC)
}

// gemmOperands holds the inputs of a gemmCase in the layout Sgemm reads.
type gemmOperands struct {
	a, b, c       []float32
	lda, ldb, ldc int
}

const gemmSentinel = 1234.5

func newGemmOperands(r *rand.Rand, tc gemmCase) gemmOperands {
	ar, ac := tc.m, tc.k
	if tc.transA {
		ar, ac = tc.k, tc.m
	}
	br, bc := tc.k, tc.n
	if tc.transB {
		br, bc = tc.n, tc.k
	}
	op := gemmOperands{lda: ac + tc.padA, ldb: bc + tc.padB, ldc: tc.n + tc.padC}
	fill := func(rows, cols, ld int) []float32 {
		s := make([]float32, max(rows*ld, 0))
		for i := range s {
			s[i] = gemmSentinel
		}
		for i := 0; i < rows; i++ {
			for j := 0; j < cols; j++ {
				s[i*ld+j] = float32(r.Float64()*2 - 1)
			}
		}
		return s
	}
	op.a = fill(ar, ac, op.lda)
	op.b = fill(br, bc, op.ldb)
	op.c = fill(tc.m, tc.n, op.ldc)
	if tc.beta == 0 {
		// BLAS: with beta == 0, C is not read, so NaNs must not leak.
		for i := 0; i < tc.m; i++ {
			for j := 0; j < tc.n; j++ {
				op.c[i*op.ldc+j] = float32(math.NaN())
			}
		}
	}
	return op
}

// gemmReference returns alpha*op(A)*op(B) + beta*C in float64 and, for each
// element, the error bound of a float32 computation: the sum of the
// magnitudes of its terms times (k+4) units in the last place.
func gemmReference(tc gemmCase, op gemmOperands) (want, tol []float64) {
	want = make([]float64, tc.m*tc.n)
	tol = make([]float64, tc.m*tc.n)
	at := func(i, p int) float64 {
		if tc.transA {
			return float64(op.a[p*op.lda+i])
		}
		return float64(op.a[i*op.lda+p])
	}
	bt := func(p, j int) float64 {
		if tc.transB {
			return float64(op.b[j*op.ldb+p])
		}
		return float64(op.b[p*op.ldb+j])
	}
	for i := 0; i < tc.m; i++ {
		for j := 0; j < tc.n; j++ {
			var s, mag float64
			for p := 0; p < tc.k; p++ {
				v := at(i, p) * bt(p, j)
				s += v
				mag += math.Abs(v)
			}
			s *= float64(tc.alpha)
			mag *= math.Abs(float64(tc.alpha))
			if tc.beta != 0 {
				cv := float64(tc.beta) * float64(op.c[i*op.ldc+j])
				s += cv
				mag += math.Abs(cv)
			}
			want[i*tc.n+j] = s
			tol[i*tc.n+j] = float64(tc.k+4)*epsGemm*mag + 1e-30
		}
	}
	return want, tol
}

// epsGemm is the unit roundoff of float32 (2^-24).
const epsGemm = 1.0 / (1 << 24)

// checkGemmCase runs one case on the active path and compares it with the
// float64 reference; it also checks that Sgemm wrote nothing outside C.
func checkGemmCase(t *testing.T, r *rand.Rand, tc gemmCase) bool {
	t.Helper()
	op := newGemmOperands(r, tc)
	want, tol := gemmReference(tc, op)
	Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, op.a, op.lda, op.b, op.ldb, tc.beta, op.c, op.ldc)
	bad := 0
	for i := 0; i < tc.m; i++ {
		for j := 0; j < tc.n+tc.padC; j++ {
			if i*op.ldc+j >= len(op.c) {
				break
			}
			got := op.c[i*op.ldc+j]
			if j >= tc.n {
				if got != gemmSentinel {
					bad++
					if bad <= 3 {
						t.Errorf("%v: C[%d][%d] is past the n=%d columns but was written: %g", tc, i, j, tc.n, got)
					}
				}
				continue
			}
			w, tl := want[i*tc.n+j], tol[i*tc.n+j]
			if d := math.Abs(float64(got) - w); !(d <= tl) {
				bad++
				if bad <= 3 {
					t.Errorf("%v: C[%d][%d] = %g, want %g (error %.3g, tolerance %.3g)", tc, i, j, got, w, d, tl)
				}
			}
		}
	}
	if bad > 3 {
		t.Errorf("%v: %d wrong elements in all", tc, bad)
	}
	return bad == 0
}

// gemmEdgeSizes returns the sizes around every blocking edge of g along one
// dimension: 1, around the register tile, around the cache block.
func gemmEdgeSizes(tile, block int) []int {
	return []int{1, tile - 1, tile, tile + 1, 2*tile + 1, block - 1, block + 1}
}

var gemmTransposes = [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}}

// TestSgemmBlockingEdges varies one dimension at a time around every
// blocking edge of the active path, on both drivers and all four transpose
// combinations, against the float64 reference.
func TestSgemmBlockingEdges(t *testing.T) {
	gemmEachPath(t, func(t *testing.T, g *gemmKernels) {
		r := rand.New(rand.NewPCG(1, 2))
		var cases []gemmCase
		for _, m := range gemmEdgeSizes(g.mr, g.mc) {
			cases = append(cases, gemmCase{m: m, n: g.nr + 3, k: 17})
		}
		// Every row count of an edge tile (one kernel each on some paths).
		for m := 2; m < g.mr; m++ {
			cases = append(cases, gemmCase{m: g.mr + m, n: g.nr - 1, k: 6})
		}
		for _, n := range gemmEdgeSizes(g.nr, g.nc) {
			cases = append(cases, gemmCase{m: g.mr + 1, n: n, k: 9})
		}
		for _, k := range []int{1, 2, 3, 5, g.kc - 1, g.kc, g.kc + 1, 2*g.kc + 3} {
			cases = append(cases, gemmCase{m: 2*g.mr + 1, n: g.nr + 1, k: k})
		}
		cases = append(cases,
			gemmCase{m: g.mc + g.mr + 1, n: 2*g.nr + 5, k: g.kc + 7},
			gemmCase{m: 37, n: 53, k: 29},
			gemmCase{m: g.mr, n: g.nr, k: 64},
		)
		for _, mode := range []int{gemmForceDirect, gemmForcePacked} {
			for _, tr := range gemmTransposes {
				for _, tc := range cases {
					tc.transA, tc.transB = tr[0], tr[1]
					tc.alpha, tc.beta = 1, 0
					gemmWithMode(mode, func() {
						if !checkGemmCase(t, r, tc) {
							t.Logf("failed with mode %d", mode)
						}
					})
				}
			}
		}
	})
}

// TestSgemmAlphaBetaAndLeadingDimensions covers the scalars (including
// beta == 0 over NaN, and beta applied once when k spans several slices) and
// leading dimensions wider than the matrices, with the padding checked to be
// left alone.
func TestSgemmAlphaBetaAndLeadingDimensions(t *testing.T) {
	gemmEachPath(t, func(t *testing.T, g *gemmKernels) {
		r := rand.New(rand.NewPCG(3, 4))
		scalars := [][2]float32{{1, 0}, {1, 1}, {-1.5, 0.5}, {0.25, -2}, {2, 0}}
		shapes := [][3]int{{g.mr + 1, g.nr + 1, 7}, {33, 47, g.kc + 2}, {3, 2, 1}}
		for _, mode := range []int{gemmForceDirect, gemmForcePacked} {
			for _, tr := range gemmTransposes {
				for _, s := range shapes {
					for _, ab := range scalars {
						tc := gemmCase{transA: tr[0], transB: tr[1], m: s[0], n: s[1], k: s[2],
							alpha: ab[0], beta: ab[1], padA: 3, padB: 5, padC: 2}
						gemmWithMode(mode, func() { checkGemmCase(t, r, tc) })
					}
				}
			}
		}
	})
}

func TestSgemmAlphaZero(t *testing.T) {
	gemmEachPath(t, func(t *testing.T, g *gemmKernels) {
		nan := float32(math.NaN())
		a := []float32{nan, 1, 2, 3}
		b := []float32{1, nan, 3, 4}
		// alpha == 0: C = beta*C, A and B are not used (BLAS quick return).
		c := []float32{1, 2, 3, 4}
		Sgemm(false, false, 2, 2, 2, 0, a, 2, b, 2, 0.5, c, 2)
		assert.Equal(t, []float32{0.5, 1, 1.5, 2}, c)
		// alpha == 0 and beta == 0: C is zeroed without being read.
		c = []float32{nan, nan, nan, 7}
		Sgemm(false, false, 2, 2, 2, 0, a, 2, b, 2, 0, c, 2)
		assert.Equal(t, []float32{0, 0, 0, 0}, c)
	})
}

func TestSgemmEmptyDimensions(t *testing.T) {
	gemmEachPath(t, func(t *testing.T, g *gemmKernels) {
		// k == 0: the product is empty, C = beta*C.
		c := []float32{1, 2, 3, 4, 5, 6}
		Sgemm(false, false, 2, 3, 0, 1, nil, 0, nil, 3, 2, c, 3)
		assert.Equal(t, []float32{2, 4, 6, 8, 10, 12}, c)
		nan := float32(math.NaN())
		c = []float32{nan, nan, nan, nan, nan, nan}
		Sgemm(true, true, 2, 3, 0, 1, nil, 2, nil, 0, 0, c, 3)
		assert.Equal(t, []float32{0, 0, 0, 0, 0, 0}, c)
		// m == 0 or n == 0: nothing to do, C (possibly nil) untouched.
		Sgemm(false, false, 0, 3, 4, 1, nil, 4, make([]float32, 12), 3, 0, nil, 3)
		c = []float32{9}
		Sgemm(false, false, 1, 0, 4, 1, make([]float32, 4), 4, nil, 1, 0, c, 1)
		assert.Equal(t, []float32{9}, c)
	})
}

// TestSgemmVectorProducts covers products with one row or one column of C,
// which Sgemm computes with dot products and axpys, with strided vectors.
func TestSgemmVectorProducts(t *testing.T) {
	gemmEachPath(t, func(t *testing.T, g *gemmKernels) {
		r := rand.New(rand.NewPCG(9, 10))
		for _, tr := range gemmTransposes {
			for _, s := range [][3]int{{1, 1, 1}, {1, 1, 300}, {1, 37, 5}, {29, 1, 40}, {1, 3000, 100}, {2500, 1, 120}} {
				for _, ab := range [][2]float32{{1, 0}, {-0.5, 2}} {
					tc := gemmCase{transA: tr[0], transB: tr[1], m: s[0], n: s[1], k: s[2],
						alpha: ab[0], beta: ab[1], padA: 2, padB: 3, padC: 1}
					checkGemmCase(t, r, tc)
				}
			}
		}
	})
}

// TestSgemmThreadsBitwise checks that the result does not depend on the
// number of threads, bit for bit, on both drivers and every path.
func TestSgemmThreadsBitwise(t *testing.T) {
	gemmEachPath(t, func(t *testing.T, g *gemmKernels) {
		r := rand.New(rand.NewPCG(5, 6))
		shapes := []gemmCase{
			{m: 2*g.mc + 5, n: 3*g.nr + 7, k: g.kc + 9, alpha: 0.5, beta: 0.75},
			{m: 19, n: 4*g.nr + 3, k: 2*g.kc + 1, alpha: 1, beta: 0, transA: true, transB: true},
			{m: 150, n: 70, k: 300, alpha: -1, beta: 1, transB: true},
			{m: 1, n: 3000, k: 200, alpha: 1, beta: 0.5, transA: true, padA: 1},
			{m: 4000, n: 1, k: 100, alpha: 1, beta: 0, transA: true, padB: 2},
		}
		for _, mode := range []int{gemmForceDirect, gemmForcePacked} {
			for _, tc := range shapes {
				op := newGemmOperands(r, tc)
				var results [][]float32
				for _, nt := range []int{1, 2, 3} {
					c := append([]float32(nil), op.c...)
					gemmWithMode(mode, func() {
						gemmWithThreads(nt, func() {
							Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, op.a, op.lda, op.b, op.ldb, tc.beta, c, op.ldc)
						})
					})
					results = append(results, c)
				}
				for i := 1; i < len(results); i++ {
					same := true
					for e := range results[0] {
						if math.Float32bits(results[0][e]) != math.Float32bits(results[i][e]) {
							same = false
							t.Errorf("%v mode %d: element %d differs between 1 and %d threads: %g vs %g", tc, mode, e, i+1, results[0][e], results[i][e])
							break
						}
					}
					assert.True(t, same)
				}
			}
		}
	})
}

// TestSgemmLargeAgainstReference checks products big enough to be split
// over threads and over several panels, on the automatic choice of driver.
func TestSgemmLargeAgainstReference(t *testing.T) {
	gemmEachPath(t, func(t *testing.T, g *gemmKernels) {
		r := rand.New(rand.NewPCG(7, 8))
		for _, tc := range []gemmCase{
			{m: 130, n: 260, k: 520, alpha: 1, beta: 0},
			{m: 128, n: 128, k: 64, alpha: 0.125, beta: 0, transB: true},
			{m: 96, n: 40, k: 700, alpha: 1, beta: 1, transA: true},
		} {
			checkGemmCase(t, r, tc)
		}
	})
}

// TestSgemmDoesNotAllocate checks that packing buffers and work state are
// reused: a warm Sgemm allocates nothing, on one thread or two.
func TestSgemmDoesNotAllocate(t *testing.T) {
	gemmEachPath(t, func(t *testing.T, g *gemmKernels) {
		for _, s := range [][3]int{{150, 100, 200}, {40, 30, 20}, {1, 500, 600}} {
			m, n, k := s[0], s[1], s[2]
			a := make([]float32, m*k)
			b := make([]float32, k*n)
			c := make([]float32, m*n)
			for _, nt := range []int{1, 2} {
				gemmWithThreads(nt, func() {
					for _, mode := range []int{gemmAuto, gemmForcePacked} {
						gemmWithMode(mode, func() {
							allocs := testing.AllocsPerRun(20, func() {
								Sgemm(false, true, m, n, k, 1, a, k, b, k, 0, c, n)
							})
							assert.Zero(t, allocs, "%dx%dx%d on %d threads, mode %d", m, n, k, nt, mode)
						})
					}
				})
			}
		}
	})
}

func TestSgemmPanics(t *testing.T) {
	a := make([]float32, 6)
	b := make([]float32, 6)
	c := make([]float32, 4)
	panicsWith := func(msg string, fn func()) {
		t.Helper()
		assert.PanicsWithValue(t, msg, fn)
	}
	panicsWith("kernels.Sgemm: negative dimension m=-1 n=2 k=3", func() {
		Sgemm(false, false, -1, 2, 3, 1, a, 3, b, 2, 0, c, 2)
	})
	panicsWith("kernels.Sgemm: lda=2 is less than the 3 columns of a (2x3)", func() {
		Sgemm(false, false, 2, 2, 3, 1, a, 2, b, 2, 0, c, 2)
	})
	panicsWith("kernels.Sgemm: ldb=2 is less than the 3 columns of b (2x3)", func() {
		Sgemm(false, true, 2, 2, 3, 1, a, 3, b, 2, 0, c, 2)
	})
	panicsWith("kernels.Sgemm: ldc=1 is less than the 2 columns of c (2x2)", func() {
		Sgemm(false, false, 2, 2, 3, 1, a, 3, b, 2, 0, c, 1)
	})
	panicsWith("kernels.Sgemm: a (2x3, ld=3) needs 6 elements, has 5", func() {
		Sgemm(false, false, 2, 2, 3, 1, a[:5], 3, b, 2, 0, c, 2)
	})
	panicsWith("kernels.Sgemm: b (3x2, ld=2) needs 6 elements, has 4", func() {
		Sgemm(false, false, 2, 2, 3, 1, a, 3, b[:4], 2, 0, c, 2)
	})
	panicsWith("kernels.Sgemm: c (2x2, ld=3) needs 5 elements, has 4", func() {
		Sgemm(false, false, 2, 2, 3, 1, a, 3, b, 2, 0, c, 3)
	})
}
