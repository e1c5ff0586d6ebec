package kernels

import (
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Sgemm computes C = alpha*op(A)*op(B) + beta*C with BLAS semantics on
// row-major storage: op(A) is m x k (A is k x m with leading dimension lda if
// transA), op(B) is k x n, C is m x n with leading dimension ldc. When beta is
// 0, C is not read (NaNs in C do not propagate).
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkGemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	sgemm(&active.gemm, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func checkGemm(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("kernels.Sgemm: negative dimension m=%d n=%d k=%d", m, n, k))
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	checkMat := func(name string, s []float32, rows, cols, ld int) {
		if rows == 0 || cols == 0 {
			return
		}
		if ld < max(cols, 1) {
			panic(fmt.Sprintf("kernels.Sgemm: ld%s=%d is less than the %d columns of %s (%dx%d)", name, ld, cols, name, rows, cols))
		}
		if need := (rows-1)*ld + cols; len(s) < need {
			panic(fmt.Sprintf("kernels.Sgemm: %s (%dx%d, ld=%d) needs %d elements, has %d", name, rows, cols, ld, need, len(s)))
		}
	}
	checkMat("a", a, ar, ac, lda)
	checkMat("b", b, br, bc, ldb)
	checkMat("c", c, m, n, ldc)
}

// gemmKernels is one implementation of the GEMM register tile together with
// the cache blocking that suits it. The driver below is shared by all paths.
//
// The driver follows the GotoBLAS/BLIS scheme ("Anatomy of High-Performance
// Matrix Multiplication", Goto and van de Geijn; "BLIS: A Framework for
// Rapidly Instantiating BLAS Functionality", Van Zee and van de Geijn): for
// each nc-wide panel of C and each kc-deep slice of k, a kc x nc panel of B is
// packed into nr-wide slivers shared by all threads, then each mc-tall block
// of A is packed into mr-tall slivers (in a buffer of the thread that owns
// it) and the tiles of the block are computed from the packed data.
//
// Products whose A and B fit in cache skip the packing (a transposed B is
// still packed, as the tile reads rows of B), and products with one row or
// one column of C are dot products or axpys. In every case the sum for one
// element of C runs over k in increasing order, in kc slices, on one
// thread, so the result does not depend on the number of threads.
type gemmKernels struct {
	mr, nr int // register tile: rows of op(A) and columns of op(B)
	kc     int // depth of a k slice (the packed B sliver should stay in L1)
	mc     int // rows of a packed A block (should stay in L2); multiple of mr
	nc     int // columns of a packed B panel; multiple of nr

	// tile computes, for i < rows <= mr and j < cols <= nr,
	//
	//	C[i*ldc+j] = alpha * sum_{p<k} a[i*rsA+p*csA]*b[p*ldb+j] + beta*C[i*ldc+j]
	//
	// summing over p in increasing order, and does not read C when beta is 0.
	// b must be readable for all j < nr on each of the k rows, not only for
	// j < cols (the driver pads B slivers at the right edge).
	tile func(rows, cols, k int, a []float32, rsA, csA int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32)

	// packA, if not nil, packs ns full mr-row slivers: sliver s gets
	// dst[s*mr*kc+p*mr+i] = a[(s*mr+i)*rsA+p*csA], where rsA or csA is 1.
	packA func(dst, a []float32, rsA, csA, kc, ns int)
	// packB, if not nil, packs ns full nr-column slivers: sliver s gets
	// dst[s*nr*kc+p*nr+j] = b[p*rsB+(s*nr+j)*csB], where rsB or csB is 1.
	packB func(dst, b []float32, rsB, csB, kc, ns int)
}

const (
	// gemmMinUnits is how many work units the driver aims for in each k
	// slice, so that threads finish together (with U units, two threads
	// lose at most 1/U) even on products with few row blocks. It shapes
	// only the split of work, never the arithmetic.
	gemmMinUnits = 24
	// gemmPackGroup is how many B slivers a thread packs at a time.
	gemmPackGroup = 4
	// gemmParallelFlops is the size of product below which Sgemm stays on the
	// calling thread: starting threads costs more than it saves.
	gemmParallelFlops = 1 << 21
	// gemmDirectElems bounds the products computed from A (and B, when B
	// is not transposed) in place, without packing: when A and B together
	// fit in half of L2 they stay in cache whatever their strides, and
	// packing them would cost more than it saves.
	gemmDirectElems = 1 << 17
)

// Driver choices that tests can force (gemmForceMode); gemmAuto picks by
// the size of the product.
const (
	gemmAuto = iota
	gemmForceDirect
	gemmForcePacked
)

var gemmForceMode = gemmAuto

// gemmJob is one Sgemm call: the problem, the current slice and the buffers.
// Jobs are pooled, so a steady stream of products allocates nothing.
type gemmJob struct {
	g *gemmKernels

	m, n, k      int
	a            []float32
	rsA, csA     int
	b            []float32
	rsB, csB     int
	c            []float32
	ldc          int
	alpha        float32
	packA, packB bool

	// The panel and slice being computed.
	jc, nc, pc, kc int
	beta           float32
	mcb            int // rows per unit (a multiple of mr)
	nIC, nJC, jch  int // units: nIC row blocks times nJC column chunks of jch columns

	vbuf   []float32 // vector products: the gathered vector and the sums
	vec    gemmVectorJob
	bpanel []float32    // packed kc x nc panel of B, shared
	wbuf   [][]float32  // per worker: packed A block and a padded edge sliver of B
	worker atomic.Int32 // next worker buffer to hand out
	next   atomic.Int32 // next work unit (or B sliver group) to hand out
	units  int          // work units (or B sliver groups) in the current phase
}

var (
	gemmJobsMu sync.Mutex
	gemmJobs   []*gemmJob
)

func getGemmJob() *gemmJob {
	gemmJobsMu.Lock()
	defer gemmJobsMu.Unlock()
	if n := len(gemmJobs); n > 0 {
		j := gemmJobs[n-1]
		gemmJobs = gemmJobs[:n-1]
		return j
	}
	return new(gemmJob)
}

func putGemmJob(j *gemmJob) {
	j.a, j.b, j.c, j.g = nil, nil, nil, nil
	j.vec = gemmVectorJob{}
	gemmJobsMu.Lock()
	gemmJobs = append(gemmJobs, j)
	gemmJobsMu.Unlock()
}

// alignedFloats returns n float32s whose first element is 64-byte aligned.
func alignedFloats(n int) []float32 {
	s := make([]float32, n+16)
	off := int(uintptr(unsafe.Pointer(&s[0]))&63) / 4
	if off != 0 {
		off = 16 - off
	}
	return s[off : off+n : off+n]
}

func sgemm(g *gemmKernels, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if k == 0 || alpha == 0 {
		scaleMatrix(m, n, beta, c, ldc)
		return
	}
	j := getGemmJob()
	if m == 1 || n == 1 {
		j.vector(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		putGemmJob(j)
		return
	}
	j.g = g
	j.m, j.n, j.k = m, n, k
	j.a, j.b, j.c, j.ldc = a, b, c, ldc
	j.alpha = alpha
	j.rsA, j.csA = lda, 1
	if transA {
		j.rsA, j.csA = 1, lda
	}
	j.rsB, j.csB = ldb, 1
	if transB {
		j.rsB, j.csB = 1, ldb
	}
	flops := 2 * m * n * k
	direct := m*k+k*n <= gemmDirectElems
	switch gemmForceMode {
	case gemmForceDirect:
		direct = true
	case gemmForcePacked:
		direct = false
	}
	j.packA = !direct
	j.packB = !direct || transB
	nt := Threads()
	if flops < gemmParallelFlops {
		nt = 1
	}
	j.run(nt, beta)
	putGemmJob(j)
}

// gemmVectorJob is a product with one row or one column of C: each output
// element is a dot product of x with a row of mat (dots), or the outputs
// are a sum over p of x[p] times row p of mat (axpys). Either way every
// output is summed over k in increasing order on one thread.
type gemmVectorJob struct {
	dots        bool
	x           []float32 // k values
	mat         []float32
	ld          int
	k           int
	sum         []float32 // axpys: the sums, one per output
	c           []float32
	cs          int // stride of the outputs in c
	alpha, beta float32
}

const (
	// gemmVectorGrain is the number of outputs per work unit of a vector
	// product; gemmVectorParallel the number of multiply-adds below which
	// it stays on one thread.
	gemmVectorGrain    = 128
	gemmVectorParallel = 1 << 18
)

// vector computes C = alpha*op(A)*op(B) + beta*C when m or n is 1 with dot
// products or axpys that stream the matrix once: packing it for a register
// tile that is one row or column wide would cost more than the product.
func (j *gemmJob) vector(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	v := &j.vec
	v.k, v.c, v.alpha, v.beta = k, c, alpha, beta
	outs := n
	if need := k + max(m, n); len(j.vbuf) < need {
		j.vbuf = alignedFloats(need)
	}
	// gather returns the k values s[p*stride], copied if strided.
	gather := func(s []float32, stride int) []float32 {
		if stride == 1 {
			return s[:k]
		}
		x := j.vbuf[:k]
		for p := range x {
			x[p] = s[p*stride]
		}
		return x
	}
	if m == 1 {
		// C is one row: x is row 0 of op(A); the matrix is B.
		v.cs = 1
		if transA {
			v.x = gather(a, lda)
		} else {
			v.x = a[:k]
		}
		v.mat, v.ld, v.dots = b, ldb, transB
	} else {
		// C is one column: x is column 0 of op(B); the matrix is A.
		outs = m
		v.cs = ldc
		if transB {
			v.x = b[:k]
		} else {
			v.x = gather(b, ldb)
		}
		v.mat, v.ld, v.dots = a, lda, !transA
	}
	v.sum = j.vbuf[k : k+outs]
	nt := Threads()
	if outs*k < gemmVectorParallel {
		nt = 1
	}
	parallelRange(nt, outs, gemmVectorGrain, v)
}

func (v *gemmVectorJob) run(lo, hi int) {
	dot, axpy := active.dot, active.axpy
	k := v.k
	sum := v.sum[lo:hi]
	if v.dots {
		for e := range sum {
			row := (lo + e) * v.ld
			sum[e] = dot(v.x, v.mat[row:row+k])
		}
	} else {
		clear(sum)
		for p, xp := range v.x {
			axpy(sum, xp, v.mat[p*v.ld+lo:p*v.ld+hi])
		}
	}
	for e, s := range sum {
		ci := (lo + e) * v.cs
		out := v.alpha * s
		if v.beta != 0 {
			out += v.beta * v.c[ci]
		}
		v.c[ci] = out
	}
}

// scaleMatrix sets C = beta*C, writing zeros without reading C if beta is 0.
func scaleMatrix(m, n int, beta float32, c []float32, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

func roundUp(x, to int) int { return (x + to - 1) / to * to }

func (j *gemmJob) run(nt int, beta float32) {
	g := j.g
	mr, nr := g.mr, g.nr
	kcMax, ncMax := min(g.kc, j.k), min(g.nc, roundUp(j.n, nr))
	if j.packB {
		if need := kcMax * roundUp(ncMax, nr); len(j.bpanel) < need {
			j.bpanel = alignedFloats(need)
		}
	}
	// Each worker buffer holds a packed A block and one padded B sliver.
	wneed := roundUp(kcMax*nr, 16)
	if j.packA {
		wneed += roundUp(min(g.mc, roundUp(j.m, mr))*kcMax, 16)
	}
	for len(j.wbuf) < nt {
		j.wbuf = append(j.wbuf, nil)
	}
	for w := 0; w < nt; w++ {
		if len(j.wbuf[w]) < wneed {
			j.wbuf[w] = alignedFloats(wneed)
		}
	}

	j.mcb = min(g.mc, roundUp(j.m, mr))
	j.nIC = (j.m + j.mcb - 1) / j.mcb
	for j.jc = 0; j.jc < j.n; j.jc += g.nc {
		j.nc = min(g.nc, j.n-j.jc)
		// Split the panel's columns into chunks when there are few row
		// blocks, so that every thread gets work.
		nJC := 1
		if j.nIC < gemmMinUnits {
			nJC = (gemmMinUnits + j.nIC - 1) / j.nIC
		}
		j.jch = roundUp((j.nc+nJC-1)/nJC, nr)
		j.nJC = (j.nc + j.jch - 1) / j.jch
		for j.pc = 0; j.pc < j.k; j.pc += g.kc {
			j.kc = min(g.kc, j.k-j.pc)
			j.beta = 1
			if j.pc == 0 {
				j.beta = beta
			}
			// Threads take units from a shared counter, so a thread that
			// is held up by other work on the machine gets fewer of them.
			// Which thread computes a unit does not change its result.
			if j.packB {
				j.units = (j.nc + gemmPackGroup*nr - 1) / (gemmPackGroup * nr)
				j.next.Store(0)
				w := min(nt, j.units)
				parallelRange(w, w, 1, (*gemmPackBPhase)(j))
			}
			j.units = j.nIC * j.nJC
			j.next.Store(0)
			j.worker.Store(0)
			w := min(nt, j.units)
			parallelRange(w, w, 1, (*gemmComputePhase)(j))
		}
	}
}

// gemmPackBPhase packs slivers [lo, hi) of the current B panel.
type gemmPackBPhase gemmJob

func (ph *gemmPackBPhase) run(_, _ int) {
	j := (*gemmJob)(ph)
	nr, kc := j.g.nr, j.kc
	for {
		grp := int(j.next.Add(1) - 1)
		if grp >= j.units {
			return
		}
		lo := grp * gemmPackGroup
		j0 := lo * nr
		cols := min(j0+gemmPackGroup*nr, j.nc) - j0
		packB(j.g, j.bpanel[lo*nr*kc:], j.b[j.pc*j.rsB+(j.jc+j0)*j.csB:], j.rsB, j.csB, kc, cols)
	}
}

// gemmComputePhase computes work units [lo, hi) of the current slice.
type gemmComputePhase gemmJob

func (ph *gemmComputePhase) run(_, _ int) {
	j := (*gemmJob)(ph)
	g := j.g
	mr, nr, kc := g.mr, g.nr, j.kc
	buf := j.wbuf[j.worker.Add(1)-1]
	edge := buf[:kc*nr]
	var apack []float32
	if j.packA {
		off := roundUp(kc*nr, 16)
		apack = buf[off : off+j.mcb*kc]
	}
	lastIC := -1
	for {
		u := int(j.next.Add(1) - 1)
		if u >= j.units {
			return
		}
		ic, jq := u/j.nJC, u%j.nJC
		i0 := ic * j.mcb
		mcb := min(j.mcb, j.m-i0)
		if j.packA && ic != lastIC {
			packA(g, apack, j.a[i0*j.rsA+j.pc*j.csA:], j.rsA, j.csA, mcb, kc)
			lastIC = ic
		}
		jEnd := min((jq+1)*j.jch, j.nc)
		for jr := jq * j.jch; jr < jEnd; jr += nr {
			cols := min(nr, j.nc-jr)
			var bs []float32
			ldb := nr
			switch {
			case j.packB:
				bs = j.bpanel[jr*kc:]
			case cols == nr:
				bs = j.b[j.pc*j.rsB+j.jc+jr:]
				ldb = j.rsB
			default:
				packB(g, edge, j.b[j.pc*j.rsB+j.jc+jr:], j.rsB, 1, kc, cols)
				bs = edge
			}
			cOff := i0*j.ldc + j.jc + jr
			for ir := 0; ir < mcb; ir += mr {
				rows := min(mr, mcb-ir)
				if j.packA {
					g.tile(rows, cols, kc, apack[ir*kc:], 1, mr, bs, ldb, j.c[cOff+ir*j.ldc:], j.ldc, j.alpha, j.beta)
				} else {
					g.tile(rows, cols, kc, j.a[(i0+ir)*j.rsA+j.pc*j.csA:], j.rsA, j.csA, bs, ldb, j.c[cOff+ir*j.ldc:], j.ldc, j.alpha, j.beta)
				}
			}
		}
	}
}

// packA copies the rows x kc block op(A) (element (i, p) at a[i*rsA+p*csA])
// into mr-tall slivers: sliver s holds rows s*mr.. as dst[s*mr*kc+p*mr+i],
// zero-padded below the last row.
func packA(g *gemmKernels, dst, a []float32, rsA, csA, rows, kc int) {
	mr := g.mr
	s := 0
	if full := rows / mr; g.packA != nil && full > 0 {
		g.packA(dst, a, rsA, csA, kc, full)
		s = full
	}
	for ; s*mr < rows; s++ {
		i0 := s * mr
		r := min(mr, rows-i0)
		d := dst[s*mr*kc : (s+1)*mr*kc]
		src := a[i0*rsA:]
		switch {
		case rsA == 1:
			for p := 0; p < kc; p++ {
				q := d[p*mr : p*mr+mr]
				copy(q, src[p*csA:p*csA+r])
				clear(q[r:])
			}
		default:
			for p := 0; p < kc; p++ {
				q := d[p*mr : p*mr+mr]
				for i := 0; i < r; i++ {
					q[i] = src[i*rsA+p*csA]
				}
				clear(q[r:])
			}
		}
	}
}

// packB copies the kc x cols block op(B) (element (p, j) at b[p*rsB+j*csB])
// into nr-wide slivers: sliver s holds columns s*nr.. as
// dst[s*nr*kc+p*nr+j], zero-padded right of the last column.
func packB(g *gemmKernels, dst, b []float32, rsB, csB, kc, cols int) {
	nr := g.nr
	s := 0
	if full := cols / nr; g.packB != nil && full > 0 {
		g.packB(dst, b, rsB, csB, kc, full)
		s = full
	}
	for ; s*nr < cols; s++ {
		j0 := s * nr
		w := min(nr, cols-j0)
		d := dst[s*nr*kc : (s+1)*nr*kc]
		src := b[j0*csB:]
		if csB == 1 {
			for p := 0; p < kc; p++ {
				q := d[p*nr : p*nr+nr]
				copy(q, src[p*rsB:p*rsB+w])
				clear(q[w:])
			}
			continue
		}
		for p := 0; p < kc; p++ {
			q := d[p*nr : p*nr+nr]
			for jj := 0; jj < w; jj++ {
				q[jj] = src[p*rsB+jj*csB]
			}
			clear(q[w:])
		}
	}
}
