package safetensors

import (
	"fmt"
	"math"
)

// DType is an element type, spelled as in the file header ("F32", "BF16", ...).
type DType string

// The element types of the format. Every one of them can be read and written;
// Float32s converts the floating-point ones of at least 16 bits, Int64s the
// integer ones and Bool.
const (
	Bool       DType = "BOOL"
	Uint8      DType = "U8"
	Int8       DType = "I8"
	Float8E5M2 DType = "F8_E5M2"
	Float8E4M3 DType = "F8_E4M3"
	Int16      DType = "I16"
	Uint16     DType = "U16"
	Float16    DType = "F16"
	BFloat16   DType = "BF16"
	Int32      DType = "I32"
	Uint32     DType = "U32"
	Float32    DType = "F32"
	Float64    DType = "F64"
	Int64      DType = "I64"
	Uint64     DType = "U64"
)

// dtypeInfo holds a dtype's element size in bytes and its rank in the
// reference implementation's ordering, which lists dtypes by increasing
// alignment; writers place higher ranks first.
type dtypeInfo struct {
	size int
	rank int
}

var dtypes = map[DType]dtypeInfo{
	Bool:       {1, 0},
	Uint8:      {1, 1},
	Int8:       {1, 2},
	Float8E5M2: {1, 3},
	Float8E4M3: {1, 4},
	Int16:      {2, 5},
	Uint16:     {2, 6},
	Float16:    {2, 7},
	BFloat16:   {2, 8},
	Int32:      {4, 9},
	Uint32:     {4, 10},
	Float32:    {4, 11},
	Float64:    {8, 12},
	Int64:      {8, 13},
	Uint64:     {8, 14},
}

// Size returns the size of one element in bytes, or 0 for an unknown dtype.
func (d DType) Size() int { return dtypes[d].size }

// Valid reports whether d is one of the format's dtypes.
func (d DType) Valid() bool {
	_, ok := dtypes[d]
	return ok
}

// String returns the dtype's name as written in the header.
func (d DType) String() string { return string(d) }

func knownDTypes() string {
	return "BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64"
}

func unknownDType(d DType) error {
	return fmt.Errorf("unknown dtype %q (expected one of %s)", string(d), knownDTypes())
}

// float16ToFloat32 widens an IEEE 754 binary16 value exactly, including
// subnormals, infinities and NaN payloads.
func float16ToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf or NaN
		return math.Float32frombits(sign | 0xff<<23 | mant<<13)
	case exp == 0 && mant == 0: // signed zero
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: normalise the mantissa
		e := uint32(127 - 15 + 1)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		mant &= 0x3ff
		return math.Float32frombits(sign | e<<23 | mant<<13)
	default:
		return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
	}
}

// bfloat16ToFloat32 widens a bfloat16 value, which is the top half of a float32.
func bfloat16ToFloat32(b uint16) float32 {
	return math.Float32frombits(uint32(b) << 16)
}
