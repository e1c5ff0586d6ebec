package safetensors

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
)

// Tensor is one named entry of a file: its element type, its shape (row-major;
// an empty shape is a scalar) and its raw little-endian bytes.
//
// Tensors returned by File.Tensor share the file's buffer: copy Data before
// changing it if the File is still in use.
type Tensor struct {
	DType DType
	Shape []int
	Data  []byte
}

// F32 makes a float32 tensor of the given shape, copying data into
// little-endian bytes. It panics if len(data) is not the product of shape.
func F32(shape []int, data []float32) Tensor {
	n := checkedNumel("safetensors.F32", shape, len(data))
	b := make([]byte, 4*n)
	for i, v := range data {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return Tensor{DType: Float32, Shape: append([]int(nil), shape...), Data: b}
}

// I64 makes an int64 tensor of the given shape, copying data into
// little-endian bytes. It panics if len(data) is not the product of shape.
func I64(shape []int, data []int64) Tensor {
	n := checkedNumel("safetensors.I64", shape, len(data))
	b := make([]byte, 8*n)
	for i, v := range data {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(v))
	}
	return Tensor{DType: Int64, Shape: append([]int(nil), shape...), Data: b}
}

// U8 makes a uint8 tensor of the given shape holding a copy of data, the
// natural way to store opaque bytes such as an RNG state. It panics if
// len(data) is not the product of shape.
func U8(shape []int, data []byte) Tensor {
	checkedNumel("safetensors.U8", shape, len(data))
	return Tensor{DType: Uint8, Shape: append([]int(nil), shape...), Data: append([]byte{}, data...)}
}

// checkedNumel panics unless shape's product is n.
func checkedNumel(op string, shape []int, n int) int {
	numel, err := numElements(shape)
	if err != nil || numel != uint64(n) {
		panic(fmt.Sprintf("%s: shape %v does not hold %d elements", op, shape, n))
	}
	return n
}

// numElements returns the product of shape, failing on a negative dimension
// or on overflow of any partial product (as the reference implementation does,
// even when a later zero would bring the product back in range).
func numElements(shape []int) (uint64, error) {
	n := uint64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("shape %v has a negative dimension", shape)
		}
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 {
			return 0, fmt.Errorf("shape %v: element count overflows 64 bits", shape)
		}
		n = lo
	}
	return n, nil
}

// NumElements returns the number of elements the shape holds.
func (t Tensor) NumElements() int {
	n, err := numElements(t.Shape)
	if err != nil || n > math.MaxInt {
		panic(fmt.Sprintf("safetensors.Tensor.NumElements: invalid shape %v", t.Shape))
	}
	return int(n)
}

// check reports whether t is well formed: a known dtype, non-negative
// dimensions and exactly as many bytes as shape and dtype call for.
func (t Tensor) check() error {
	size := t.DType.Size()
	if size == 0 {
		return unknownDType(t.DType)
	}
	n, err := numElements(t.Shape)
	if err != nil {
		return err
	}
	hi, want := bits.Mul64(n, uint64(size))
	if hi != 0 || want != uint64(len(t.Data)) {
		return fmt.Errorf("shape %v of %s needs %d elements of %d bytes, have %d bytes of data",
			t.Shape, t.DType, n, size, len(t.Data))
	}
	return nil
}

// Float32s returns the elements as float32: F32 as is, F16 and BF16 widened
// exactly, F64 rounded to nearest. Other dtypes give an error, as does data
// whose length does not match the shape.
func (t Tensor) Float32s() ([]float32, error) {
	if err := t.check(); err != nil {
		return nil, fmt.Errorf("safetensors: Float32s: %w", err)
	}
	b := t.Data
	switch t.DType {
	case Float32:
		out := make([]float32, len(b)/4)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		return out, nil
	case Float16:
		out := make([]float32, len(b)/2)
		for i := range out {
			out[i] = float16ToFloat32(binary.LittleEndian.Uint16(b[2*i:]))
		}
		return out, nil
	case BFloat16:
		out := make([]float32, len(b)/2)
		for i := range out {
			out[i] = bfloat16ToFloat32(binary.LittleEndian.Uint16(b[2*i:]))
		}
		return out, nil
	case Float64:
		out := make([]float32, len(b)/8)
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:])))
		}
		return out, nil
	}
	return nil, fmt.Errorf("safetensors: Float32s: dtype %s is not a float type (expected F32, F16, BF16 or F64)", t.DType)
}

// Int64s returns the elements of an integer or BOOL tensor as int64. U64
// values above the int64 range give an error, as do float dtypes.
func (t Tensor) Int64s() ([]int64, error) {
	if err := t.check(); err != nil {
		return nil, fmt.Errorf("safetensors: Int64s: %w", err)
	}
	if !isInteger(t.DType) {
		return nil, fmt.Errorf("safetensors: Int64s: dtype %s is not an integer type (expected BOOL, U8, I8, I16, U16, I32, U32, I64 or U64)", t.DType)
	}
	b := t.Data
	out := make([]int64, len(b)/t.DType.Size())
	for i := range out {
		switch t.DType {
		case Bool, Uint8:
			out[i] = int64(b[i])
		case Int8:
			out[i] = int64(int8(b[i]))
		case Int16:
			out[i] = int64(int16(binary.LittleEndian.Uint16(b[2*i:])))
		case Uint16:
			out[i] = int64(binary.LittleEndian.Uint16(b[2*i:]))
		case Int32:
			out[i] = int64(int32(binary.LittleEndian.Uint32(b[4*i:])))
		case Uint32:
			out[i] = int64(binary.LittleEndian.Uint32(b[4*i:]))
		case Int64:
			out[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
		case Uint64:
			v := binary.LittleEndian.Uint64(b[8*i:])
			if v > math.MaxInt64 {
				return nil, fmt.Errorf("safetensors: Int64s: element %d of U64 tensor is %d, beyond the int64 range", i, v)
			}
			out[i] = int64(v)
		}
	}
	return out, nil
}

func isInteger(d DType) bool {
	switch d {
	case Bool, Uint8, Int8, Int16, Uint16, Int32, Uint32, Int64, Uint64:
		return true
	}
	return false
}
