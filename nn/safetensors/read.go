package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ErrInvalid is wrapped by every error that reports a malformed file, as
// opposed to an I/O error, so that callers can tell a damaged checkpoint from
// a missing one with errors.Is.
var ErrInvalid = errors.New("safetensors: invalid file")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// File is a parsed safetensors file held in memory.
type File struct {
	// Metadata holds the header's "__metadata__" pairs; it is nil when the
	// header has none.
	Metadata map[string]string

	tensors map[string]Tensor
}

// Names returns the names of the file's tensors in sorted order.
func (f *File) Names() []string {
	names := make([]string, 0, len(f.tensors))
	for name := range f.tensors {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Len returns the number of tensors in the file.
func (f *File) Len() int { return len(f.tensors) }

// Tensor returns the tensor called name. Its Data shares the file's buffer.
func (f *File) Tensor(name string) (Tensor, error) {
	t, ok := f.tensors[name]
	if !ok {
		return Tensor{}, fmt.Errorf("safetensors: no tensor named %q (the file has %d tensors)", name, len(f.tensors))
	}
	t.Shape = slices.Clone(t.Shape)
	return t, nil
}

// ReadFile reads and validates the safetensors file at path.
func ReadFile(path string) (*File, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("safetensors: %s is not a regular file", path)
	}
	f, err := Read(fd, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// Read reads and validates a safetensors file of size bytes from r. The
// header is fully checked before the data buffer is allocated, and nothing
// larger than size bytes is ever allocated.
func Read(r io.ReaderAt, size int64) (*File, error) {
	if size < 8 {
		return nil, invalid("file is %d bytes, shorter than the 8-byte header length", size)
	}
	var nb [8]byte
	if _, err := r.ReadAt(nb[:], 0); err != nil {
		return nil, fmt.Errorf("safetensors: reading header length: %w", err)
	}
	n := binary.LittleEndian.Uint64(nb[:])
	if n > maxHeaderSize {
		return nil, invalid("header length %d exceeds the limit of %d bytes", n, maxHeaderSize)
	}
	if n > uint64(size-8) {
		return nil, invalid("header length %d exceeds the %d bytes that follow the length field", n, size-8)
	}
	header := make([]byte, n)
	if _, err := r.ReadAt(header, 8); err != nil {
		return nil, fmt.Errorf("safetensors: reading header: %w", err)
	}
	dataLen := uint64(size-8) - n
	entries, metadata, err := parseHeader(header)
	if err != nil {
		return nil, err
	}
	if err := checkLayout(entries, dataLen); err != nil {
		return nil, err
	}
	data := make([]byte, dataLen)
	if _, err := r.ReadAt(data, 8+int64(n)); err != nil && !(err == io.EOF && dataLen == 0) {
		return nil, fmt.Errorf("safetensors: reading %d bytes of tensor data: %w", dataLen, err)
	}
	f := &File{Metadata: metadata, tensors: make(map[string]Tensor, len(entries))}
	for _, e := range entries {
		f.tensors[e.name] = Tensor{DType: e.dtype, Shape: e.shape, Data: data[e.begin:e.end:e.end]}
	}
	return f, nil
}

// entry is one tensor as the header describes it.
type entry struct {
	name       string
	dtype      DType
	shape      []int
	begin, end uint64
}

// checkLayout checks what the reference implementation checks: sorted by
// offsets, the tensors tile [0, dataLen) without gap or overlap, and each
// byte range is exactly as long as its shape and dtype call for.
func checkLayout(entries []entry, dataLen uint64) error {
	slices.SortFunc(entries, func(a, b entry) int {
		if a.begin != b.begin {
			return cmpUint(a.begin, b.begin)
		}
		if a.end != b.end {
			return cmpUint(a.end, b.end)
		}
		return strings.Compare(a.name, b.name)
	})
	var next uint64
	prev := ""
	for _, e := range entries {
		if e.end < e.begin {
			return invalid("tensor %q: data_offsets [%d, %d] end before they begin", e.name, e.begin, e.end)
		}
		if e.end > dataLen {
			return invalid("tensor %q: data_offsets [%d, %d] extend past the %d-byte data buffer", e.name, e.begin, e.end, dataLen)
		}
		if e.begin != next {
			if e.begin < next {
				return invalid("tensor %q: data_offsets [%d, %d] overlap tensor %q, which ends at %d", e.name, e.begin, e.end, prev, next)
			}
			return invalid("tensor %q: data_offsets [%d, %d] leave a gap: expected the tensor to begin at %d", e.name, e.begin, e.end, next)
		}
		numel, err := numElements(e.shape)
		if err != nil {
			return invalid("tensor %q: %v", e.name, err)
		}
		hi, want := bits.Mul64(numel, uint64(e.dtype.Size()))
		if hi != 0 {
			return invalid("tensor %q: shape %v of %s: byte count overflows 64 bits", e.name, e.shape, e.dtype)
		}
		if e.end-e.begin != want {
			return invalid("tensor %q: shape %v of %s needs %d bytes, data_offsets [%d, %d] hold %d",
				e.name, e.shape, e.dtype, want, e.begin, e.end, e.end-e.begin)
		}
		next, prev = e.end, e.name
	}
	if next != dataLen {
		return invalid("tensors cover %d bytes of the %d-byte data buffer; expected them to cover it exactly", next, dataLen)
	}
	return nil
}

func cmpUint(a, b uint64) int {
	if a < b {
		return -1
	}
	return 1
}

// parseHeader decodes the JSON header token by token, so that duplicate keys,
// which encoding/json would silently merge, are caught.
func parseHeader(header []byte) ([]entry, map[string]string, error) {
	if !utf8.Valid(header) {
		return nil, nil, invalid("header is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(header))
	dec.UseNumber()
	if err := expectDelim(dec, '{', "header"); err != nil {
		return nil, nil, err
	}
	var entries []entry
	var metadata map[string]string
	seen := make(map[string]bool)
	for dec.More() {
		key, err := stringToken(dec, "header key")
		if err != nil {
			return nil, nil, err
		}
		if seen[key] {
			return nil, nil, invalid("header: duplicate entry %q", key)
		}
		seen[key] = true
		if key == metadataKey {
			if metadata, err = parseMetadata(dec); err != nil {
				return nil, nil, err
			}
			continue
		}
		e, err := parseEntry(dec, key)
		if err != nil {
			return nil, nil, err
		}
		entries = append(entries, e)
	}
	if err := expectDelim(dec, '}', "header"); err != nil {
		return nil, nil, err
	}
	// Only the space padding (or any JSON white space) may follow.
	if tok, err := dec.Token(); err != io.EOF {
		if err != nil {
			return nil, nil, invalid("header: malformed JSON after the top-level object: %v", err)
		}
		return nil, nil, invalid("header: unexpected %v after the top-level object; expected only space padding", tok)
	}
	return entries, metadata, nil
}

func parseMetadata(dec *json.Decoder) (map[string]string, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, invalid("header: %s: malformed JSON: %v", metadataKey, err)
	}
	if tok == nil {
		return nil, nil
	}
	if tok != json.Delim('{') {
		return nil, invalid("header: %s is %v; expected an object of strings", metadataKey, tok)
	}
	m := make(map[string]string)
	for dec.More() {
		k, err := stringToken(dec, metadataKey+" key")
		if err != nil {
			return nil, err
		}
		if _, dup := m[k]; dup {
			return nil, invalid("header: %s: duplicate key %q", metadataKey, k)
		}
		v, err := stringToken(dec, fmt.Sprintf("%s value of %q", metadataKey, k))
		if err != nil {
			return nil, err
		}
		m[k] = v
	}
	if err := expectDelim(dec, '}', metadataKey); err != nil {
		return nil, err
	}
	return m, nil
}

func parseEntry(dec *json.Decoder, name string) (entry, error) {
	e := entry{name: name}
	what := fmt.Sprintf("tensor %q", name)
	if err := expectDelim(dec, '{', what); err != nil {
		return e, err
	}
	var haveDType, haveShape, haveOffsets bool
	for dec.More() {
		field, err := stringToken(dec, what+" field")
		if err != nil {
			return e, err
		}
		switch field {
		case "dtype":
			if haveDType {
				return e, invalid("%s: duplicate field dtype", what)
			}
			haveDType = true
			s, err := stringToken(dec, what+" dtype")
			if err != nil {
				return e, err
			}
			e.dtype = DType(s)
			if !e.dtype.Valid() {
				return e, invalid("%s: %v", what, unknownDType(e.dtype))
			}
		case "shape":
			if haveShape {
				return e, invalid("%s: duplicate field shape", what)
			}
			haveShape = true
			dims, err := uintArray(dec, what+" shape")
			if err != nil {
				return e, err
			}
			e.shape = make([]int, len(dims))
			for i, d := range dims {
				if d > math.MaxInt {
					return e, invalid("%s: dimension %d of shape is %d, too large", what, i, d)
				}
				e.shape[i] = int(d)
			}
		case "data_offsets":
			if haveOffsets {
				return e, invalid("%s: duplicate field data_offsets", what)
			}
			haveOffsets = true
			offs, err := uintArray(dec, what+" data_offsets")
			if err != nil {
				return e, err
			}
			if len(offs) != 2 {
				return e, invalid("%s: data_offsets has %d numbers; expected [begin, end]", what, len(offs))
			}
			e.begin, e.end = offs[0], offs[1]
		default:
			// Unknown fields are ignored, as the reference implementation does.
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return e, invalid("%s: field %q: malformed JSON: %v", what, field, err)
			}
		}
	}
	if err := expectDelim(dec, '}', what); err != nil {
		return e, err
	}
	switch {
	case !haveDType:
		return e, invalid("%s: missing field dtype", what)
	case !haveShape:
		return e, invalid("%s: missing field shape", what)
	case !haveOffsets:
		return e, invalid("%s: missing field data_offsets", what)
	}
	return e, nil
}

func uintArray(dec *json.Decoder, what string) ([]uint64, error) {
	if err := expectDelim(dec, '[', what); err != nil {
		return nil, err
	}
	var out []uint64
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, invalid("%s: malformed JSON: %v", what, err)
		}
		num, ok := tok.(json.Number)
		if !ok {
			return nil, invalid("%s: element %d is %v; expected a non-negative integer", what, len(out), tok)
		}
		v, err := strconv.ParseUint(string(num), 10, 64)
		if err != nil {
			if strings.HasPrefix(string(num), "-") {
				return nil, invalid("%s: element %d is negative (%s)", what, len(out), num)
			}
			return nil, invalid("%s: element %d is %s; expected a non-negative integer below 2^64", what, len(out), num)
		}
		out = append(out, v)
	}
	if err := expectDelim(dec, ']', what); err != nil {
		return nil, err
	}
	return out, nil
}

func stringToken(dec *json.Decoder, what string) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", invalid("header: %s: malformed JSON: %v", what, err)
	}
	s, ok := tok.(string)
	if !ok {
		return "", invalid("header: %s is %v; expected a string", what, tok)
	}
	return s, nil
}

func expectDelim(dec *json.Decoder, want json.Delim, what string) error {
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			return invalid("%s: JSON ends early; expected %q", what, want)
		}
		return invalid("%s: malformed JSON: %v", what, err)
	}
	if tok != want {
		return invalid("%s: found %v; expected %q", what, tok, want)
	}
	return nil
}
