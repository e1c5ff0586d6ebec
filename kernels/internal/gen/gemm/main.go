// Command gemm generates kernels/gemm_amd64.s: the register tiles and
// packing routines of kiln's SGEMM, for AVX2+FMA (6x16, this file) and for
// AVX-512 (12x32, avx512.go). Run it through go generate in package kernels.
//
// Each AVX2 kernel computes one tile of up to 6 rows and 16 columns,
//
//	C[i][j] = alpha * sum_p A[i][p]*B[p][j] + beta*C[i][j]   (C not read if beta == 0)
//
// keeping the 6x16 accumulators in 12 ymm registers: per step of k, two
// loads of a B row, one broadcast per row of A, two FMAs per broadcast.
// Columns past cols are masked off when C is loaded and stored; rows are
// a property of the kernel (one kernel per row count), so edge tiles cost
// no more than their size.
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

const (
	mr = 6  // rows of the register tile
	nr = 16 // columns of the register tile (two ymm)

	// unroll is how many steps of k the main loops do per iteration.
	unroll = 4
	// prefetchA is how far ahead, in bytes, the packed kernel prefetches
	// its A sliver (the stream that comes from L2; the B sliver is in L1).
	prefetchA = 512

	// Rows of k that the block packers copy per visit of a sliver.
	packATChunk = 4
	packBNChunk = 16
)

// acc[i][h] holds columns 8h..8h+7 of row i of the tile.
var acc = [mr][2]VecPhysical{
	{Y0, Y1}, {Y2, Y3}, {Y4, Y5}, {Y6, Y7}, {Y8, Y9}, {Y10, Y11},
}

// Scratch registers of the k loop: the B row and two alternating broadcasts.
var (
	b0, b1 = Y12, Y13
	bcast  = [2]VecPhysical{Y14, Y15}
)

var maskTable Mem

func main() {
	ConstraintExpr("amd64,!purego")

	// Sixteen all-ones lanes then sixteen zero lanes: the 16 lanes starting
	// at lane 16-cols are the column mask of a tile cols wide.
	maskTable = GLOBL("gemmColMask", RODATA|NOPTR)
	for i := 0; i < 32; i++ {
		v := uint32(0)
		if i < 16 {
			v = 0xffffffff
		}
		DATA(4*i, U32(v))
	}

	for r := 1; r <= mr; r++ {
		packedKernel(r)
	}
	for r := 1; r <= mr; r++ {
		stridedKernel(r)
	}
	packA6N("gemmPackA6N", 6)
	packAT("gemmPackA6T", 6, []int{packATChunk, 1})
	packBN("gemmPackB16N", 16, []int{packBNChunk, 4, 1})
	packB16T("gemmPackB16T", 16)
	packA6N("gemmPackA6Nx12", 12)
	packAT("gemmPackA12T", 12, []int{packATChunk, 1})
	packBN("gemmPackB32N", 32, []int{packBNChunk, 4, 1})
	packB16T("gemmPackB16Tx32", 32)
	for r := 1; r <= mrZ; r++ {
		packedKernelZ(r)
	}
	for r := 1; r <= mrZ; r++ {
		stridedKernelZ(r)
	}
	Generate()
}

// packedKernel reads A from a packed sliver (element (i, p) at a[p*6+i]) and
// B from a packed sliver (element (p, j) at b[p*16+j]).
func packedKernel(rows int) {
	name := fmt.Sprintf("gemmPacked%dx16", rows)
	TEXT(name, NOSPLIT, "func(k int, a, b, c *float32, ldc int, alpha, beta float32, cols int)")
	Doc(fmt.Sprintf("%s computes a %dx16 tile from packed slivers of A (6 rows) and B (16 columns).", name, rows))
	k := Load(Param("k"), GP64())
	a := Load(Param("a"), GP64())
	b := Load(Param("b"), GP64())
	zeroAccumulators(rows)
	prefetchC(rows)

	n := GP64()
	MOVQ(k, n)
	SHRQ(U8(2), n)
	JZ(LabelRef(name + "_tail"))
	Label(name + "_loop")
	for u := 0; u < unroll; u++ {
		if u%2 == 0 {
			PREFETCHT0(Mem{Base: a, Disp: prefetchA + u*mr*4})
		}
		step(rows,
			Mem{Base: b, Disp: u * nr * 4},
			func(i int) Mem { return Mem{Base: a, Disp: (u*mr + i) * 4} })
	}
	ADDQ(U32(unroll*mr*4), a)
	ADDQ(U32(unroll*nr*4), b)
	DECQ(n)
	JNZ(LabelRef(name + "_loop"))

	Label(name + "_tail")
	ANDQ(U8(unroll-1), k)
	JZ(LabelRef(name + "_store"))
	Label(name + "_tailloop")
	step(rows, Mem{Base: b}, func(i int) Mem { return Mem{Base: a, Disp: i * 4} })
	ADDQ(U8(mr*4), a)
	ADDQ(U8(nr*4), b)
	DECQ(k)
	JNZ(LabelRef(name + "_tailloop"))

	Label(name + "_store")
	epilogue(name, rows)
}

// stridedKernel reads A with element (i, p) at a[i*rsA+p*csA] and B with
// element (p, j) at b[p*ldb+j], so it can run on A and B in place.
func stridedKernel(rows int) {
	name := fmt.Sprintf("gemmStrided%dx16", rows)
	TEXT(name, NOSPLIT, "func(k int, a *float32, rsA, csA int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, cols int)")
	Doc(fmt.Sprintf("%s computes a %dx16 tile from A and B in place (A by row and column strides, B by rows).", name, rows))
	k := Load(Param("k"), GP64())
	a := Load(Param("a"), GP64())
	b := Load(Param("b"), GP64())
	rs := Load(Param("rsA"), GP64())
	SHLQ(U8(2), rs)
	cs := Load(Param("csA"), GP64())
	SHLQ(U8(2), cs)
	ldb := Load(Param("ldb"), GP64())
	SHLQ(U8(2), ldb)
	// Row i of A is at a + i*rs: rows 0-2 and 4 by scaled index, 3 and 5
	// by their own offsets.
	var rs3, rs5 GPVirtual
	if rows > 3 {
		rs3 = GP64()
		LEAQ(Mem{Base: rs, Index: rs, Scale: 2}, rs3)
	}
	if rows > 5 {
		rs5 = GP64()
		LEAQ(Mem{Base: rs, Index: rs, Scale: 4}, rs5)
	}
	rowA := func(i int) Mem {
		switch i {
		case 0:
			return Mem{Base: a}
		case 1:
			return Mem{Base: a, Index: rs, Scale: 1}
		case 2:
			return Mem{Base: a, Index: rs, Scale: 2}
		case 3:
			return Mem{Base: a, Index: rs3, Scale: 1}
		case 4:
			return Mem{Base: a, Index: rs, Scale: 4}
		default:
			return Mem{Base: a, Index: rs5, Scale: 1}
		}
	}
	zeroAccumulators(rows)
	prefetchC(rows)

	n := GP64()
	MOVQ(k, n)
	SHRQ(U8(2), n)
	JZ(LabelRef(name + "_tail"))
	Label(name + "_loop")
	for u := 0; u < unroll; u++ {
		step(rows, Mem{Base: b}, rowA)
		ADDQ(cs, a)
		ADDQ(ldb, b)
	}
	DECQ(n)
	JNZ(LabelRef(name + "_loop"))

	Label(name + "_tail")
	ANDQ(U8(unroll-1), k)
	JZ(LabelRef(name + "_store"))
	Label(name + "_tailloop")
	step(rows, Mem{Base: b}, rowA)
	ADDQ(cs, a)
	ADDQ(ldb, b)
	DECQ(k)
	JNZ(LabelRef(name + "_tailloop"))

	Label(name + "_store")
	epilogue(name, rows)
}

func zeroAccumulators(rows int) {
	for i := 0; i < rows; i++ {
		for h := 0; h < 2; h++ {
			VXORPS(acc[i][h], acc[i][h], acc[i][h])
		}
	}
}

// prefetchC asks for the tile of C while the k loop runs.
func prefetchC(rows int) {
	c := Load(Param("c"), GP64())
	ldc := Load(Param("ldc"), GP64())
	SHLQ(U8(2), ldc)
	for i := 0; i < rows; i++ {
		PREFETCHT0(Mem{Base: c})
		PREFETCHT0(Mem{Base: c, Disp: nr*4 - 4})
		if i < rows-1 {
			ADDQ(ldc, c)
		}
	}
}

// step does one step of k: the B row from brow (16 floats), A element i
// from arow(i).
func step(rows int, brow Mem, arow func(i int) Mem) {
	VMOVUPS(brow, b0)
	VMOVUPS(brow.Offset(32), b1)
	for i := 0; i < rows; i++ {
		t := bcast[i%2]
		VBROADCASTSS(arow(i), t)
		VFMADD231PS(b0, t, acc[i][0])
		VFMADD231PS(b1, t, acc[i][1])
	}
}

// epilogue scales the accumulators by alpha and writes them to C, adding
// beta*C unless beta is zero, masking columns when cols < 16.
func epilogue(name string, rows int) {
	alpha := b0
	VBROADCASTSS(paramMem("alpha"), alpha)
	for i := 0; i < rows; i++ {
		for h := 0; h < 2; h++ {
			VMULPS(alpha, acc[i][h], acc[i][h])
		}
	}
	tmp := b0 // alpha is no longer needed
	beta := b1
	c := Load(Param("c"), GP64())
	ldc := Load(Param("ldc"), GP64())
	SHLQ(U8(2), ldc)
	cols := Load(Param("cols"), GP64())
	betaBits := GP32()
	MOVL(paramMem("beta"), betaBits)
	ANDL(U32(0x7fffffff), betaBits)

	CMPQ(cols, U8(nr))
	JL(LabelRef(name + "_masked"))
	TESTL(betaBits, betaBits)
	JZ(LabelRef(name + "_full0"))
	VBROADCASTSS(paramMem("beta"), beta)
	for i := 0; i < rows; i++ {
		for h := 0; h < 2; h++ {
			m := Mem{Base: c, Disp: 32 * h}
			VFMADD231PS(m, beta, acc[i][h])
			VMOVUPS(acc[i][h], m)
		}
		if i < rows-1 {
			ADDQ(ldc, c)
		}
	}
	VZEROUPPER()
	RET()

	Label(name + "_full0")
	for i := 0; i < rows; i++ {
		for h := 0; h < 2; h++ {
			VMOVUPS(acc[i][h], Mem{Base: c, Disp: 32 * h})
		}
		if i < rows-1 {
			ADDQ(ldc, c)
		}
	}
	VZEROUPPER()
	RET()

	// Masked columns: the two halves of the mask go to the broadcast
	// registers, the loaded C to tmp.
	Label(name + "_masked")
	mask := bcast
	base := GP64()
	LEAQ(maskTable, base)
	NEGQ(cols)
	VMOVUPS(Mem{Base: base, Index: cols, Scale: 4, Disp: 4 * nr}, mask[0])
	VMOVUPS(Mem{Base: base, Index: cols, Scale: 4, Disp: 4*nr + 32}, mask[1])
	TESTL(betaBits, betaBits)
	JZ(LabelRef(name + "_masked0"))
	VBROADCASTSS(paramMem("beta"), beta)
	for i := 0; i < rows; i++ {
		for h := 0; h < 2; h++ {
			m := Mem{Base: c, Disp: 32 * h}
			VMASKMOVPS(m, mask[h], tmp)
			VFMADD231PS(tmp, beta, acc[i][h])
			VMASKMOVPS(acc[i][h], mask[h], m)
		}
		if i < rows-1 {
			ADDQ(ldc, c)
		}
	}
	VZEROUPPER()
	RET()

	Label(name + "_masked0")
	for i := 0; i < rows; i++ {
		for h := 0; h < 2; h++ {
			VMASKMOVPS(acc[i][h], mask[h], Mem{Base: c, Disp: 32 * h})
		}
		if i < rows-1 {
			ADDQ(ldc, c)
		}
	}
	VZEROUPPER()
	RET()
}

// paramMem is the stack slot of a parameter.
func paramMem(name string) Mem {
	b, err := Param(name).Resolve()
	if err != nil {
		panic(err)
	}
	return b.Addr
}

// stridedRows returns the addresses base + i*stride (stride in bytes) for
// i < n <= 8 using scaled index addressing, allocating the multiples of
// stride that cannot be scaled.
func stridedRows(base, stride Register, n int) []Mem {
	var x3, x5, x7 Register
	if n > 3 {
		x3 = GP64()
		LEAQ(Mem{Base: stride, Index: stride, Scale: 2}, x3)
	}
	if n > 5 {
		x5 = GP64()
		LEAQ(Mem{Base: stride, Index: stride, Scale: 4}, x5)
	}
	if n > 7 {
		x7 = GP64()
		LEAQ(Mem{Base: x3, Index: stride, Scale: 4}, x7)
	}
	all := []Mem{
		{Base: base},
		{Base: base, Index: stride, Scale: 1},
		{Base: base, Index: stride, Scale: 2},
		{Base: base, Index: x3, Scale: 1},
		{Base: base, Index: stride, Scale: 4},
		{Base: base, Index: x5, Scale: 1},
		{Base: base, Index: x3, Scale: 2},
		{Base: base, Index: x7, Scale: 1},
	}
	return all[:n]
}

// packA6N packs six rows of A that are contiguous in k (A not transposed)
// into a sliver with stride floats per step of k, dst[p*stride+i]: 8x6
// blocks are transposed in registers. A 12-row sliver is two calls.
func packA6N(name string, stride int) {
	TEXT(name, NOSPLIT, "func(kc int, a *float32, lda int, dst *float32)")
	Doc(fmt.Sprintf("%s packs rows a[i*lda+p], i < 6, p < kc, into dst[p*%d+i].", name, stride))
	kc := Load(Param("kc"), GP64())
	a := Load(Param("a"), GP64())
	lda := Load(Param("lda"), GP64())
	SHLQ(U8(2), lda)
	dst := Load(Param("dst"), GP64())
	rows := stridedRows(a, lda, 6)
	n := GP64()
	MOVQ(kc, n)
	SHRQ(U8(3), n)
	JZ(LabelRef(name + "_tail"))
	Label(name + "_loop")
	r := []VecPhysical{Y0, Y1, Y2, Y3, Y4, Y5}
	for i := range r {
		VMOVUPS(rows[i], r[i])
	}
	// t0 = r0[0] r1[0] r0[1] r1[1] | r0[4] r1[4] r0[5] r1[5], and so on.
	VUNPCKLPS(Y1, Y0, Y6)
	VUNPCKHPS(Y1, Y0, Y7)
	VUNPCKLPS(Y3, Y2, Y8)
	VUNPCKHPS(Y3, Y2, Y9)
	VUNPCKLPS(Y5, Y4, Y10) // rows 4-5 of p = 0, 1 | 4, 5
	VUNPCKHPS(Y5, Y4, Y11) // rows 4-5 of p = 2, 3 | 6, 7
	// Rows 0-3 of p | p+4.
	VSHUFPS(U8(0x44), Y8, Y6, Y0)
	VSHUFPS(U8(0xee), Y8, Y6, Y1)
	VSHUFPS(U8(0x44), Y9, Y7, Y2)
	VSHUFPS(U8(0xee), Y9, Y7, Y3)
	lo := []VecPhysical{X0, X1, X2, X3}
	store := func(pBase int, r45a, r45b VecPhysical) {
		for q := 0; q < 4; q++ {
			VMOVUPS(lo[q], Mem{Base: dst, Disp: (pBase + q) * 4 * stride})
			m := Mem{Base: dst, Disp: (pBase+q)*4*stride + 16}
			src := r45a
			if q >= 2 {
				src = r45b
			}
			if q%2 == 0 {
				VMOVLPS(src, m)
			} else {
				VMOVHPS(src, m)
			}
		}
	}
	store(0, X10, X11)
	for q := 0; q < 4; q++ {
		VEXTRACTF128(U8(1), r[q], lo[q])
	}
	VEXTRACTF128(U8(1), Y10, X10)
	VEXTRACTF128(U8(1), Y11, X11)
	store(4, X10, X11)
	ADDQ(U8(32), a)
	ADDQ(U32(8*4*stride), dst)
	DECQ(n)
	JNZ(LabelRef(name + "_loop"))

	Label(name + "_tail")
	ANDQ(U8(7), kc)
	JZ(LabelRef(name + "_done"))
	Label(name + "_tailloop")
	for i := 0; i < 6; i++ {
		VMOVSS(rows[i], X0)
		VMOVSS(X0, Mem{Base: dst, Disp: 4 * i})
	}
	ADDQ(U8(4), a)
	ADDQ(U8(4*stride), dst)
	DECQ(kc)
	JNZ(LabelRef(name + "_tailloop"))
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

// packAT packs ns slivers of mr (6 or 12) columns of a transposed A (each
// step of k is a row of contiguous values) into dst: sliver s gets
// a[p*lda+mr*s+i] at dst[s*mr*kc+p*mr+i]. It walks chunks of rows of A
// across all slivers, so that the rows stay in L1 and the TLB.
func packAT(name string, mr int, chunks []int) {
	TEXT(name, NOSPLIT, "func(kc, ns int, a *float32, lda int, dst *float32)")
	Doc(fmt.Sprintf("%s packs a[p*lda+%d*s+i], i < %d, p < kc, s < ns, into dst[s*%d*kc+p*%d+i].", name, mr, mr, mr, mr))
	kc := Load(Param("kc"), GP64())
	a := Load(Param("a"), GP64())
	lda := Load(Param("lda"), GP64())
	SHLQ(U8(2), lda)
	dst := Load(Param("dst"), GP64())
	sl := GP64()
	LEAQ(Mem{Base: kc, Index: kc, Scale: 2}, sl)
	SHLQ(U8(log2(mr*4/3)), sl) // bytes per sliver: kc*mr*4
	src, t, d, s, n := GP64(), GP64(), GP64(), GP64(), GP64()
	rows := stridedRows(t, lda, 4)
	// A row of six is 4+2 floats, one of twelve 8+4.
	lo := []VecPhysical{X0, X2, X4, X6}
	hi := []VecPhysical{X1, X3, X5, X7}
	move, hiOff := VMOVSD, 16
	if mr == 12 {
		lo = []VecPhysical{Y0, Y2, Y4, Y6}
		move, hiOff = VMOVUPS, 32
	}
	// body copies nrows rows of six values from src to d.
	body := func(nrows int) {
		for q0 := 0; q0 < nrows; q0 += 4 {
			if q0 > 0 {
				LEAQ(Mem{Base: t, Index: lda, Scale: 4}, t)
			}
			for q := 0; q < min(4, nrows-q0); q++ {
				VMOVUPS(rows[q], lo[q])
				move(rows[q].Offset(hiOff), hi[q])
			}
			for q := 0; q < min(4, nrows-q0); q++ {
				VMOVUPS(lo[q], Mem{Base: d, Disp: 4 * mr * (q0 + q)})
				move(hi[q], Mem{Base: d, Disp: 4*mr*(q0+q) + hiOff})
			}
		}
	}
	// Rows of k in chunks (then smaller chunks for the rest): each chunk is
	// copied sliver by sliver while its rows stay in L1.
	for ci, nrows := range chunks {
		lp := fmt.Sprintf("%s_p%d", name, nrows)
		chunkCount(kc, n, chunks, ci)
		JZ(LabelRef(lp + "_done"))
		Label(lp)
		MOVQ(a, src)
		MOVQ(dst, d)
		Load(Param("ns"), s)
		Label(lp + "_s")
		MOVQ(src, t)
		body(nrows)
		ADDQ(U8(4*mr), src)
		ADDQ(sl, d)
		DECQ(s)
		JNZ(LabelRef(lp + "_s"))
		for q := 0; q < nrows; q += 4 {
			if nrows-q >= 4 {
				LEAQ(Mem{Base: a, Index: lda, Scale: 4}, a)
			} else {
				ADDQ(lda, a)
			}
		}
		ADDQ(U32(4*mr*nrows), dst)
		DECQ(n)
		JNZ(LabelRef(lp))
		Label(lp + "_done")
	}
	VZEROUPPER()
	RET()
}

// packBN packs ns slivers of nr (16 or 32) columns of B (rows contiguous)
// into dst: sliver s gets b[p*ldb+nr*s+j] at dst[s*nr*kc+p*nr+j]. Like
// packAT it walks chunks of rows across all slivers.
func packBN(name string, nr int, chunks []int) {
	TEXT(name, NOSPLIT, "func(kc, ns int, b *float32, ldb int, dst *float32)")
	Doc(fmt.Sprintf("%s packs b[p*ldb+%d*s+j], j < %d, p < kc, s < ns, into dst[s*%d*kc+p*%d+j].", name, nr, nr, nr, nr))
	kc := Load(Param("kc"), GP64())
	b := Load(Param("b"), GP64())
	ldb := Load(Param("ldb"), GP64())
	SHLQ(U8(2), ldb)
	dst := Load(Param("dst"), GP64())
	sl := GP64()
	MOVQ(kc, sl)
	SHLQ(U8(log2(4*nr)), sl) // bytes per sliver: kc*nr*4
	src, t, d, s, n := GP64(), GP64(), GP64(), GP64(), GP64()
	rows := stridedRows(t, ldb, 4)
	regs := []VecPhysical{Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11, Y12, Y13, Y14, Y15}
	perRow := nr / 8 // ymm per row
	body := func(nrows int) {
		for q0 := 0; q0 < nrows; q0 += 4 {
			if q0 > 0 {
				LEAQ(Mem{Base: t, Index: ldb, Scale: 4}, t)
			}
			nq := min(4, nrows-q0)
			for q := 0; q < nq; q++ {
				for v := 0; v < perRow; v++ {
					VMOVUPS(rows[q].Offset(32*v), regs[perRow*q+v])
				}
			}
			for q := 0; q < perRow*nq; q++ {
				VMOVUPS(regs[q], Mem{Base: d, Disp: 32 * (perRow*q0 + q)})
			}
		}
	}
	// Rows of k in chunks (then smaller chunks for the rest): each chunk is
	// copied sliver by sliver while its rows stay in L1.
	for ci, nrows := range chunks {
		lp := fmt.Sprintf("%s_p%d", name, nrows)
		chunkCount(kc, n, chunks, ci)
		JZ(LabelRef(lp + "_done"))
		Label(lp)
		MOVQ(b, src)
		MOVQ(dst, d)
		Load(Param("ns"), s)
		Label(lp + "_s")
		MOVQ(src, t)
		body(nrows)
		ADDQ(U32(4*nr), src)
		ADDQ(sl, d)
		DECQ(s)
		JNZ(LabelRef(lp + "_s"))
		for q := 0; q < nrows; q += 4 {
			if nrows-q >= 4 {
				LEAQ(Mem{Base: b, Index: ldb, Scale: 4}, b)
			} else {
				ADDQ(ldb, b)
			}
		}
		ADDQ(U32(4*nr*nrows), dst)
		DECQ(n)
		JNZ(LabelRef(lp))
		Label(lp + "_done")
	}
	VZEROUPPER()
	RET()
}

// packB16T packs 16 columns of a transposed B (column j of op(B) is row j
// of B, contiguous in k) into a sliver with stride floats per step of k,
// dst[p*stride+j]: 8x8 blocks are transposed in registers. A 32-column
// sliver is two calls.
func packB16T(name string, stride int) {
	TEXT(name, NOSPLIT, "func(kc int, b *float32, ldb int, dst *float32)")
	Doc(fmt.Sprintf("%s packs b[j*ldb+p], j < 16, p < kc, into dst[p*%d+j].", name, stride))
	kc := Load(Param("kc"), GP64())
	b := Load(Param("b"), GP64())
	ldb := Load(Param("ldb"), GP64())
	SHLQ(U8(2), ldb)
	dst := Load(Param("dst"), GP64())
	b8 := GP64()
	LEAQ(Mem{Base: b, Index: ldb, Scale: 8}, b8)
	cols := stridedRows(b, ldb, 8)
	cols8 := make([]Mem, 8)
	for i, m := range cols {
		m.Base = b8
		cols8[i] = m
	}
	n := GP64()
	MOVQ(kc, n)
	SHRQ(U8(3), n)
	JZ(LabelRef(name + "_tail"))
	Label(name + "_loop")
	r := []VecPhysical{Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7}
	t := []VecPhysical{Y8, Y9, Y10, Y11, Y12, Y13, Y14, Y15}
	for h, src := range [][]Mem{cols, cols8} {
		for i := range r {
			VMOVUPS(src[i], r[i])
		}
		for i := 0; i < 8; i += 2 {
			VUNPCKLPS(r[i+1], r[i], t[i])
			VUNPCKHPS(r[i+1], r[i], t[i+1])
		}
		// s[4g+q] holds rows 4g..4g+3 of p = q | q+4.
		for g := 0; g < 2; g++ {
			VSHUFPS(U8(0x44), t[4*g+2], t[4*g], r[4*g])
			VSHUFPS(U8(0xee), t[4*g+2], t[4*g], r[4*g+1])
			VSHUFPS(U8(0x44), t[4*g+3], t[4*g+1], r[4*g+2])
			VSHUFPS(U8(0xee), t[4*g+3], t[4*g+1], r[4*g+3])
		}
		for q := 0; q < 4; q++ {
			VPERM2F128(U8(0x20), r[4+q], r[q], t[q])
			VPERM2F128(U8(0x31), r[4+q], r[q], t[4+q])
		}
		for p := 0; p < 8; p++ {
			VMOVUPS(t[p], Mem{Base: dst, Disp: 4*stride*p + 32*h})
		}
	}
	ADDQ(U8(32), b)
	ADDQ(U8(32), b8)
	ADDQ(U32(8*4*stride), dst)
	DECQ(n)
	JNZ(LabelRef(name + "_loop"))

	Label(name + "_tail")
	ANDQ(U8(7), kc)
	JZ(LabelRef(name + "_done"))
	Label(name + "_tailloop")
	for h, src := range [][]Mem{cols, cols8} {
		for i := 0; i < 8; i++ {
			VMOVSS(src[i], X0)
			VMOVSS(X0, Mem{Base: dst, Disp: 4 * (8*h + i)})
		}
	}
	ADDQ(U8(4), b)
	ADDQ(U8(4), b8)
	ADDQ(U32(4*stride), dst)
	DECQ(kc)
	JNZ(LabelRef(name + "_tailloop"))
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

// chunkCount sets n to the number of chunks of chunks[ci] rows in kc after
// the larger chunks before it (chunk sizes are powers of two, decreasing).
func chunkCount(kc, n Register, chunks []int, ci int) {
	MOVQ(kc, n)
	if sh := log2(chunks[ci]); sh > 0 {
		SHRQ(U8(sh), n)
	}
	if ci > 0 {
		ANDQ(U8(chunks[ci-1]/chunks[ci]-1), n)
	}
}

func log2(x int) int {
	n := 0
	for 1<<n < x {
		n++
	}
	return n
}
