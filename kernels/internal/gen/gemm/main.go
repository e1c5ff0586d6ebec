// Command gemm generates kernels/gemm_amd64.s: the AVX2+FMA register tiles
// of kiln's SGEMM. Run it through go generate in package kernels.
//
// Each kernel computes one tile of up to 6 rows and 16 columns,
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
