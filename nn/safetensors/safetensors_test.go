package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func readBytes(t *testing.T, b []byte) *File {
	t.Helper()
	f, err := Read(bytes.NewReader(b), int64(len(b)))
	require.NoError(t, err)
	return f
}

func le32(vs ...float32) []byte {
	b := make([]byte, 4*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

// TestGoldenSingleTensor checks the bytes written for one F32 tensor against
// the layout the format prescribes: the length, then compact JSON with the
// fields in the order dtype, shape, data_offsets (64 bytes, already a multiple
// of 8, so no padding), then the floats.
func TestGoldenSingleTensor(t *testing.T) {
	var buf bytes.Buffer
	err := Write(&buf, map[string]Tensor{
		"attn.0": F32([]int{1, 2, 3}, []float32{0, 1, 2, 3, 4, 5}),
	}, nil)
	require.NoError(t, err)

	header := `{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}`
	want := []byte{64, 0, 0, 0, 0, 0, 0, 0}
	want = append(want, header...)
	want = append(want, le32(0, 1, 2, 3, 4, 5)...)
	assert.Equal(t, want, buf.Bytes())
}

// TestGoldenPaddingAndOrder checks space padding, metadata placement and the
// reference ordering of mixed dtypes: I64 before F32 before U8 regardless of
// names. The header is 196 bytes, padded with 4 spaces to 200.
func TestGoldenPaddingAndOrder(t *testing.T) {
	var buf bytes.Buffer
	err := Write(&buf, map[string]Tensor{
		"a": F32([]int{2}, []float32{1.5, -2}),
		"b": U8([]int{3}, []byte{7, 8, 9}),
		"c": I64([]int{1}, []int64{-3}),
	}, map[string]string{"framework": "pt"})
	require.NoError(t, err)

	header := `{"__metadata__":{"framework":"pt"},` +
		`"c":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},` +
		`"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},` +
		`"b":{"dtype":"U8","shape":[3],"data_offsets":[16,19]}}` + "    "
	want := []byte{200, 0, 0, 0, 0, 0, 0, 0}
	want = append(want, header...)
	want = append(want, 0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff) // int64 -3
	want = append(want, le32(1.5, -2)...)
	want = append(want, 7, 8, 9)
	assert.Equal(t, want, buf.Bytes())
}

// TestGoldenEmpty checks an empty file with and without (empty) metadata:
// nil metadata writes no entry, a non-nil empty map writes an empty object.
func TestGoldenEmpty(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, Write(&buf, nil, nil))
	assert.Equal(t, []byte("\x08\x00\x00\x00\x00\x00\x00\x00{}      "), buf.Bytes())

	buf.Reset()
	require.NoError(t, Write(&buf, nil, map[string]string{}))
	assert.Equal(t, []byte("\x18\x00\x00\x00\x00\x00\x00\x00"+`{"__metadata__":{}}`+"     "), buf.Bytes())
}

// TestGoldenEscaping checks that strings are escaped as serde_json escapes
// them: only quote, backslash and control characters, never <, > or &, and
// non-ASCII left as UTF-8.
func TestGoldenEscaping(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, Write(&buf, nil, map[string]string{"note": "a<b>&\"q\"\n\x01\x1f\té"}))
	header := `{"__metadata__":{"note":"a<b>&\"q\"\n\u0001\u001f\té"}}`
	require.Len(t, header, 56)
	assert.Equal(t, append([]byte{56, 0, 0, 0, 0, 0, 0, 0}, header...), buf.Bytes())
	f := readBytes(t, buf.Bytes())
	assert.Equal(t, "a<b>&\"q\"\n\x01\x1f\té", f.Metadata["note"])
}

func randomTensor(rng *rand.Rand, dt DType) Tensor {
	shape := make([]int, rng.IntN(4))
	for i := range shape {
		shape[i] = rng.IntN(4)
	}
	if rng.IntN(5) == 0 && len(shape) > 0 {
		shape[0] = 0
	}
	n, _ := numElements(shape)
	data := make([]byte, int(n)*dt.Size())
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	return Tensor{DType: dt, Shape: shape, Data: data}
}

func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	all := []DType{Bool, Uint8, Int8, Float8E5M2, Float8E4M3, Int16, Uint16, Float16, BFloat16,
		Int32, Uint32, Float32, Float64, Int64, Uint64}
	for trial := range 50 {
		tensors := make(map[string]Tensor)
		for i := range rng.IntN(12) {
			name := string(rune('a'+rng.IntN(26))) + string(rune('0'+i))
			tensors[name] = randomTensor(rng, all[rng.IntN(len(all))])
		}
		var meta map[string]string
		if trial%2 == 0 {
			meta = map[string]string{"trial": string(rune('A' + trial%26)), "empty": "", "ü\"\\": "\x00\n"}
		}
		var buf bytes.Buffer
		require.NoError(t, Write(&buf, tensors, meta))
		b := buf.Bytes()
		require.Zero(t, binary.LittleEndian.Uint64(b)%8, "header length must be a multiple of 8")

		f := readBytes(t, b)
		assert.Equal(t, meta, f.Metadata)
		assert.Equal(t, len(tensors), f.Len())
		for name, want := range tensors {
			got, err := f.Tensor(name)
			require.NoError(t, err)
			assert.Equal(t, want.DType, got.DType, name)
			assert.Equal(t, len(want.Shape), len(got.Shape), name)
			assert.Equal(t, want.Data, got.Data, name)
			if len(want.Shape) > 0 {
				assert.Equal(t, want.Shape, got.Shape, name)
			}
		}
		// Re-writing what was read gives the same bytes.
		again := make(map[string]Tensor)
		for _, name := range f.Names() {
			again[name], _ = f.Tensor(name)
		}
		var buf2 bytes.Buffer
		require.NoError(t, Write(&buf2, again, f.Metadata))
		assert.Equal(t, b, buf2.Bytes())
	}
}

// TestAlignment checks that the write order keeps every tensor aligned to
// its element size, the reason the reference sorts by dtype first.
func TestAlignment(t *testing.T) {
	tensors := map[string]Tensor{
		"a": U8([]int{3}, []byte{1, 2, 3}),
		"b": {DType: Float16, Shape: []int{1}, Data: []byte{0, 0x3c}},
		"c": F32([]int{1}, []float32{1}),
		"d": I64([]int{1}, []int64{1}),
	}
	header, order, err := encodeHeader(tensors, nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"d", "c", "b", "a"}, order)
	off := 8 + len(header)
	for _, name := range order {
		assert.Zero(t, off%tensors[name].DType.Size(), name)
		off += len(tensors[name].Data)
	}
}

func TestReadValid(t *testing.T) {
	for _, c := range validFiles() {
		t.Run(c.name, func(t *testing.T) {
			f := readBytes(t, c.file)
			for _, name := range f.Names() {
				tn, err := f.Tensor(name)
				require.NoError(t, err)
				assert.NoError(t, tn.check())
			}
		})
	}
	f := readBytes(t, validFiles()[3].file)
	assert.Equal(t, map[string]string{"format": "pt", "step": "7"}, f.Metadata)
	assert.Equal(t, []string{"a", "b"}, f.Names())
	b, err := f.Tensor("b")
	require.NoError(t, err)
	assert.Equal(t, BFloat16, b.DType)
	assert.Equal(t, []int{3}, b.Shape)
	assert.Equal(t, []byte{8, 9, 10, 11, 12, 13}, b.Data)
	assert.Equal(t, len(b.Data), cap(b.Data), "a tensor's data must not reach into its neighbour")

	_, err = f.Tensor("nope")
	assert.ErrorContains(t, err, `no tensor named "nope"`)
}

func TestReadInvalid(t *testing.T) {
	for _, c := range invalidFiles() {
		t.Run(c.name, func(t *testing.T) {
			f, err := Read(bytes.NewReader(c.file), int64(len(c.file)))
			require.Error(t, err)
			assert.Nil(t, f)
			assert.ErrorIs(t, err, ErrInvalid)
			assert.ErrorContains(t, err, c.want)
		})
	}
}

// TestReadShortReader checks that a reader holding less than the size the
// caller claims gives an I/O error, not a panic or ErrInvalid.
func TestReadShortReader(t *testing.T) {
	b := rawFile(`{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, 16)
	_, err := Read(bytes.NewReader(b[:len(b)-4]), int64(len(b)))
	require.Error(t, err)
	assert.NotErrorIs(t, err, ErrInvalid)
	assert.ErrorContains(t, err, "reading 16 bytes of tensor data")
}

func TestWriteRejects(t *testing.T) {
	cases := []struct {
		name    string
		tensors map[string]Tensor
		meta    map[string]string
		want    string
	}{
		{"short_data", map[string]Tensor{"w": {DType: Float32, Shape: []int{2}, Data: make([]byte, 4)}}, nil,
			`tensor "w": shape [2] of F32 needs 2 elements of 4 bytes, have 4 bytes`},
		{"unknown_dtype", map[string]Tensor{"w": {DType: "F128", Shape: []int{1}, Data: make([]byte, 16)}}, nil, `unknown dtype "F128"`},
		{"negative_dim", map[string]Tensor{"w": {DType: Uint8, Shape: []int{-1}}}, nil, "negative dimension"},
		{"reserved_name", map[string]Tensor{"__metadata__": U8([]int{1}, []byte{1})}, nil, "reserved"},
		{"bad_name", map[string]Tensor{"\xff": U8([]int{1}, []byte{1})}, nil, "not valid UTF-8"},
		{"bad_metadata", nil, map[string]string{"k": "\xff"}, "not valid UTF-8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := Write(&buf, c.tensors, c.meta)
			assert.ErrorContains(t, err, c.want)
			assert.Zero(t, buf.Len(), "nothing may be written when validation fails")
		})
	}
}

func TestFloat16(t *testing.T) {
	cases := map[uint16]float32{
		0x0000: 0, 0x3c00: 1, 0xc000: -2, 0x3555: 0.333251953125, 0x7bff: 65504,
		0x0001: 1.0 / (1 << 24), 0x03ff: 1023.0 / (1 << 24), 0x0400: 1.0 / (1 << 14),
		0x7c00: float32(math.Inf(1)), 0xfc00: float32(math.Inf(-1)),
	}
	for h, want := range cases {
		assert.Equal(t, want, float16ToFloat32(h), "%#04x", h)
	}
	assert.True(t, math.Signbit(float64(float16ToFloat32(0x8000))), "negative zero")
	// Every value against the definition: (-1)^s * 2^(e-15) * (1 + m/1024),
	// or 2^-14 * m/1024 for subnormals.
	for h := range 1 << 16 {
		s, e, m := h>>15, (h>>10)&0x1f, h&0x3ff
		got := float64(float16ToFloat32(uint16(h)))
		if e == 0x1f {
			if m == 0 {
				assert.True(t, math.IsInf(got, 1-2*s), "%#04x", h)
			} else {
				assert.True(t, math.IsNaN(got), "%#04x", h)
			}
			continue
		}
		want := math.Ldexp(float64(m)/1024, -14)
		if e != 0 {
			want = math.Ldexp(1+float64(m)/1024, e-15)
		}
		if s == 1 {
			want = -want
		}
		if got != want {
			t.Fatalf("float16 %#04x: got %g, want %g", h, got, want)
		}
	}
}

func TestFloat32s(t *testing.T) {
	f32, err := F32([]int{3}, []float32{1, -2.5, 1e-30}).Float32s()
	require.NoError(t, err)
	assert.Equal(t, []float32{1, -2.5, 1e-30}, f32)

	bf, err := Tensor{DType: BFloat16, Shape: []int{2}, Data: []byte{0x80, 0x3f, 0x49, 0x40}}.Float32s()
	require.NoError(t, err)
	assert.Equal(t, []float32{1, 3.140625}, bf)

	h, err := Tensor{DType: Float16, Shape: []int{2}, Data: []byte{0x00, 0x3c, 0x00, 0xc0}}.Float32s()
	require.NoError(t, err)
	assert.Equal(t, []float32{1, -2}, h)

	d := make([]byte, 8)
	binary.LittleEndian.PutUint64(d, math.Float64bits(0.1))
	f64, err := Tensor{DType: Float64, Shape: []int{}, Data: d}.Float32s()
	require.NoError(t, err)
	assert.Equal(t, []float32{0.1}, f64)

	_, err = I64([]int{1}, []int64{1}).Float32s()
	assert.ErrorContains(t, err, "dtype I64 is not a float type")
	_, err = Tensor{DType: Float32, Shape: []int{2}, Data: make([]byte, 4)}.Float32s()
	assert.ErrorContains(t, err, "needs 2 elements")
}

func TestInt64s(t *testing.T) {
	cases := []struct {
		dt   DType
		data []byte
		want []int64
	}{
		{Bool, []byte{0, 1}, []int64{0, 1}},
		{Uint8, []byte{255}, []int64{255}},
		{Int8, []byte{255}, []int64{-1}},
		{Int16, []byte{0xfe, 0xff}, []int64{-2}},
		{Uint16, []byte{0xfe, 0xff}, []int64{65534}},
		{Int32, []byte{0xfd, 0xff, 0xff, 0xff}, []int64{-3}},
		{Uint32, []byte{0xfd, 0xff, 0xff, 0xff}, []int64{4294967293}},
		{Int64, []byte{0xfc, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, []int64{-4}},
		{Uint64, []byte{5, 0, 0, 0, 0, 0, 0, 0}, []int64{5}},
	}
	for _, c := range cases {
		got, err := Tensor{DType: c.dt, Shape: []int{len(c.want)}, Data: c.data}.Int64s()
		require.NoError(t, err, c.dt)
		assert.Equal(t, c.want, got, c.dt)
	}
	_, err := Tensor{DType: Uint64, Shape: []int{1}, Data: bytes.Repeat([]byte{0xff}, 8)}.Int64s()
	assert.ErrorContains(t, err, "beyond the int64 range")
	_, err = F32([]int{0}, nil).Int64s()
	assert.ErrorContains(t, err, "not an integer type")
}

func TestConstructorsPanic(t *testing.T) {
	assert.PanicsWithValue(t, "safetensors.F32: shape [2 2] does not hold 3 elements", func() {
		F32([]int{2, 2}, []float32{1, 2, 3})
	})
	assert.Panics(t, func() { I64([]int{-1}, nil) })
	assert.Panics(t, func() { U8([]int{2}, []byte{1}) })
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.safetensors")
	tensors := map[string]Tensor{"w": F32([]int{2}, []float32{1, 2})}
	require.NoError(t, WriteFile(path, tensors, map[string]string{"step": "1"}))

	var buf bytes.Buffer
	require.NoError(t, Write(&buf, tensors, map[string]string{"step": "1"}))
	onDisk, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, buf.Bytes(), onDisk)

	f, err := ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "1", f.Metadata["step"])

	// Replacing an existing file works and leaves no temporary behind.
	require.NoError(t, WriteFile(path, map[string]Tensor{"v": F32([]int{1}, []float32{3})}, nil))
	f, err = ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, []string{"v"}, f.Names())
	assert.Equal(t, []string{"m.safetensors"}, listDir(t, dir))

	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), st.Mode().Perm())
}

// failingWriter accepts limit bytes, then fails, as a full disk would.
type failingWriter struct {
	w     interface{ Write([]byte) (int, error) }
	limit int
}

var errDiskFull = errors.New("disk full")

func (f *failingWriter) Write(p []byte) (int, error) {
	if len(p) > f.limit {
		n, _ := f.w.Write(p[:f.limit])
		f.limit = 0
		return n, errDiskFull
	}
	f.limit -= len(p)
	return f.w.Write(p)
}

func TestWriteFileFailureKeepsOld(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ckpt.safetensors")
	old := map[string]Tensor{"w": F32([]int{3}, []float32{1, 2, 3})}
	require.NoError(t, WriteFile(path, old, nil))
	before, err := os.ReadFile(path)
	require.NoError(t, err)

	// A failure midway through the data, after the header was written.
	big := map[string]Tensor{"w": F32([]int{4096}, make([]float32, 4096))}
	header, order, err := encodeHeader(big, nil)
	require.NoError(t, err)
	err = writeFileAtomic(path, func(w io.Writer) error {
		return writeBody(&failingWriter{w: w, limit: 8 + len(header) + 100}, header, order, big)
	})
	require.ErrorIs(t, err, errDiskFull)
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, before, after, "the old file must survive a failed write")
	assert.Equal(t, []string{"ckpt.safetensors"}, listDir(t, dir), "the temporary file must be removed")

	// A tensor that fails validation: nothing is created at all.
	err = WriteFile(path, map[string]Tensor{"w": {DType: Float32, Shape: []int{2}}}, nil)
	require.Error(t, err)
	after, err = os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, before, after)
	assert.Equal(t, []string{"ckpt.safetensors"}, listDir(t, dir))

	// The destination is a directory: the rename fails, the temporary goes.
	sub := filepath.Join(dir, "sub")
	require.NoError(t, os.Mkdir(sub, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(sub, "x"), nil, 0o644))
	err = WriteFile(sub, old, nil)
	require.Error(t, err)
	assert.ElementsMatch(t, []string{"ckpt.safetensors", "sub"}, listDir(t, dir))

	// The directory does not exist.
	err = WriteFile(filepath.Join(dir, "missing", "m.safetensors"), old, nil)
	assert.Error(t, err)
}

func TestWriteFileReadOnlyDir(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("permissions do not bind root")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "m.safetensors")
	require.NoError(t, WriteFile(path, map[string]Tensor{"w": F32([]int{1}, []float32{1})}, nil))
	before, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.Chmod(dir, 0o555))
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	err = WriteFile(path, map[string]Tensor{"w": F32([]int{1}, []float32{2})}, nil)
	require.Error(t, err)
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, before, after)
}

func TestReadFileErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := ReadFile(filepath.Join(dir, "missing.safetensors"))
	assert.ErrorIs(t, err, os.ErrNotExist)
	_, err = ReadFile(dir)
	assert.ErrorContains(t, err, "not a regular file")

	path := filepath.Join(dir, "bad.safetensors")
	require.NoError(t, os.WriteFile(path, invalidFiles()[0].file, 0o644))
	_, err = ReadFile(path)
	assert.ErrorIs(t, err, ErrInvalid)
	assert.ErrorContains(t, err, path)
}
