package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The AVX-512 tile: 12 rows by 32 columns (two zmm), 24 accumulators.
const (
	mrZ = 12
	nrZ = 32

	// prefetchAZ is how far ahead, in bytes, the packed AVX-512 kernel
	// prefetches its A sliver.
	prefetchAZ = 768
)

var (
	accZ    [mrZ][2]VecPhysical
	bZ      = [2]VecPhysical{Z24, Z25}
	bcastZ  = [2]VecPhysical{Z26, Z27}
	alphaZ  = Z30
	betaZ   = Z31
	tmpZ    = Z24 // the B registers are free in the epilogue
	colMask = [2]Register{K1, K2}
)

func init() {
	zs := []VecPhysical{Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11,
		Z12, Z13, Z14, Z15, Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23}
	for i := 0; i < mrZ; i++ {
		accZ[i] = [2]VecPhysical{zs[2*i], zs[2*i+1]}
	}
}

// packedKernelZ is packedKernel for the 12x32 AVX-512 tile: A sliver
// a[p*12+i], B sliver b[p*32+j].
func packedKernelZ(rows int) {
	name := fmt.Sprintf("gemmPackedZ%dx32", rows)
	TEXT(name, NOSPLIT, "func(k int, a, b, c *float32, ldc int, alpha, beta float32, cols int)")
	Doc(fmt.Sprintf("%s computes a %dx32 tile from packed slivers of A (12 rows) and B (32 columns).", name, rows))
	k := Load(Param("k"), GP64())
	a := Load(Param("a"), GP64())
	b := Load(Param("b"), GP64())
	zeroAccumulatorsZ(rows)
	prefetchCZ(rows)

	n := GP64()
	MOVQ(k, n)
	SHRQ(U8(2), n)
	JZ(LabelRef(name + "_tail"))
	Label(name + "_loop")
	for u := 0; u < unroll; u++ {
		PREFETCHT0(Mem{Base: a, Disp: prefetchAZ + u*mrZ*4})
		stepZ(rows,
			Mem{Base: b, Disp: u * nrZ * 4},
			func(i int) Mem { return Mem{Base: a, Disp: (u*mrZ + i) * 4} })
	}
	ADDQ(U32(unroll*mrZ*4), a)
	ADDQ(U32(unroll*nrZ*4), b)
	DECQ(n)
	JNZ(LabelRef(name + "_loop"))

	Label(name + "_tail")
	ANDQ(U8(unroll-1), k)
	JZ(LabelRef(name + "_store"))
	Label(name + "_tailloop")
	stepZ(rows, Mem{Base: b}, func(i int) Mem { return Mem{Base: a, Disp: i * 4} })
	ADDQ(U8(mrZ*4), a)
	ADDQ(U32(nrZ*4), b)
	DECQ(k)
	JNZ(LabelRef(name + "_tailloop"))

	Label(name + "_store")
	epilogueZ(name, rows)
}

// stridedKernelZ is stridedKernel for the 12x32 AVX-512 tile.
func stridedKernelZ(rows int) {
	name := fmt.Sprintf("gemmStridedZ%dx32", rows)
	TEXT(name, NOSPLIT, "func(k int, a *float32, rsA, csA int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, cols int)")
	Doc(fmt.Sprintf("%s computes a %dx32 tile from A and B in place (A by row and column strides, B by rows).", name, rows))
	k := Load(Param("k"), GP64())
	a := Load(Param("a"), GP64())
	b := Load(Param("b"), GP64())
	rs := Load(Param("rsA"), GP64())
	SHLQ(U8(2), rs)
	cs := Load(Param("csA"), GP64())
	SHLQ(U8(2), cs)
	ldb := Load(Param("ldb"), GP64())
	SHLQ(U8(2), ldb)
	// Rows 0-5 from a, rows 6-11 from a6 = a + 6*rs.
	var a6 Register
	if rows > 6 {
		a6 = GP64()
		LEAQ(Mem{Base: rs, Index: rs, Scale: 2}, a6)
		SHLQ(U8(1), a6)
		ADDQ(a, a6)
	}
	lo := stridedRows(a, rs, min(rows, 6))
	var hi []Mem
	if rows > 6 {
		hi = make([]Mem, rows-6)
		for i := range hi {
			hi[i] = lo[i]
			hi[i].Base = a6
		}
	}
	rowA := func(i int) Mem {
		if i < 6 {
			return lo[i]
		}
		return hi[i-6]
	}
	zeroAccumulatorsZ(rows)
	prefetchCZ(rows)

	n := GP64()
	MOVQ(k, n)
	SHRQ(U8(2), n)
	JZ(LabelRef(name + "_tail"))
	advance := func() {
		ADDQ(cs, a)
		if rows > 6 {
			ADDQ(cs, a6)
		}
		ADDQ(ldb, b)
	}
	Label(name + "_loop")
	for u := 0; u < unroll; u++ {
		stepZ(rows, Mem{Base: b}, rowA)
		advance()
	}
	DECQ(n)
	JNZ(LabelRef(name + "_loop"))

	Label(name + "_tail")
	ANDQ(U8(unroll-1), k)
	JZ(LabelRef(name + "_store"))
	Label(name + "_tailloop")
	stepZ(rows, Mem{Base: b}, rowA)
	advance()
	DECQ(k)
	JNZ(LabelRef(name + "_tailloop"))

	Label(name + "_store")
	epilogueZ(name, rows)
}

func zeroAccumulatorsZ(rows int) {
	for i := 0; i < rows; i++ {
		for h := 0; h < 2; h++ {
			VPXORD(accZ[i][h], accZ[i][h], accZ[i][h])
		}
	}
}

func prefetchCZ(rows int) {
	c := Load(Param("c"), GP64())
	ldc := Load(Param("ldc"), GP64())
	SHLQ(U8(2), ldc)
	for i := 0; i < rows; i++ {
		PREFETCHT0(Mem{Base: c})
		PREFETCHT0(Mem{Base: c, Disp: 64})
		PREFETCHT0(Mem{Base: c, Disp: nrZ*4 - 4})
		if i < rows-1 {
			ADDQ(ldc, c)
		}
	}
}

func stepZ(rows int, brow Mem, arow func(i int) Mem) {
	VMOVUPS(brow, bZ[0])
	VMOVUPS(brow.Offset(64), bZ[1])
	for i := 0; i < rows; i++ {
		t := bcastZ[i%2]
		VBROADCASTSS(arow(i), t)
		VFMADD231PS(bZ[0], t, accZ[i][0])
		VFMADD231PS(bZ[1], t, accZ[i][1])
	}
}

// epilogueZ writes the tile like epilogue, with the columns past cols
// masked off by opmasks (all ones for a full tile).
func epilogueZ(name string, rows int) {
	VBROADCASTSS(paramMem("alpha"), alphaZ)
	for i := 0; i < rows; i++ {
		for h := 0; h < 2; h++ {
			VMULPS(alphaZ, accZ[i][h], accZ[i][h])
		}
	}
	c := Load(Param("c"), GP64())
	ldc := Load(Param("ldc"), GP64())
	SHLQ(U8(2), ldc)
	// Masks: lanes min(cols, 16) of the first vector, clamp(cols-16, 0, 16)
	// of the second.
	cols := Load(Param("cols"), GP64())
	t, lim, m := GP64(), GP64(), GP64()
	MOVQ(cols, t)
	MOVQ(U32(16), lim)
	CMPQ(t, lim)
	CMOVQGT(lim, t)
	MOVQ(U32(1), m)
	SHLXQ(t, m, m)
	DECQ(m)
	KMOVW(m.As32(), colMask[0])
	MOVQ(cols, t)
	XORQ(lim, lim)
	SUBQ(U8(16), t)
	CMOVQLT(lim, t)
	MOVQ(U32(1), m)
	SHLXQ(t, m, m)
	DECQ(m)
	KMOVW(m.As32(), colMask[1])

	betaBits := GP32()
	MOVL(paramMem("beta"), betaBits)
	ANDL(U32(0x7fffffff), betaBits)
	JZ(LabelRef(name + "_beta0"))
	VBROADCASTSS(paramMem("beta"), betaZ)
	for i := 0; i < rows; i++ {
		for h := 0; h < 2; h++ {
			mem := Mem{Base: c, Disp: 64 * h}
			VMOVUPS_Z(mem, colMask[h], tmpZ)
			VFMADD231PS(tmpZ, betaZ, accZ[i][h])
			VMOVUPS(accZ[i][h], colMask[h], mem)
		}
		if i < rows-1 {
			ADDQ(ldc, c)
		}
	}
	VZEROUPPER()
	RET()

	Label(name + "_beta0")
	for i := 0; i < rows; i++ {
		for h := 0; h < 2; h++ {
			VMOVUPS(accZ[i][h], colMask[h], Mem{Base: c, Disp: 64 * h})
		}
		if i < rows-1 {
			ADDQ(ldc, c)
		}
	}
	VZEROUPPER()
	RET()
}
