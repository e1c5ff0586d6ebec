package safetensors

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/kiln-ml/kiln/internal/testhook"
)

// maxHeaderSize bounds the JSON header, as in the reference implementation.
const maxHeaderSize = 100_000_000

// metadataKey is the reserved header key holding the string metadata.
const metadataKey = "__metadata__"

// Write writes tensors and metadata to w in the safetensors format. Tensors
// are laid out as the reference implementation lays them out: by dtype size,
// largest first, then by name. A nil metadata map writes no "__metadata__"
// entry; a non-nil empty one writes an empty object, as the Python library
// does for None and {}. Metadata keys are written in sorted order.
//
// Every tensor is checked before anything is written: a known dtype,
// non-negative dimensions, len(Data) equal to the product of Shape times the
// dtype size, and a name that is valid UTF-8 and not "__metadata__".
func Write(w io.Writer, tensors map[string]Tensor, metadata map[string]string) error {
	header, order, err := encodeHeader(tensors, metadata)
	if err != nil {
		return err
	}
	return writeBody(w, header, order, tensors)
}

// WriteFile writes tensors and metadata to the file at path (see Write), so
// that a crash or an error never leaves a partial file there: it writes a
// temporary file in the same directory, syncs it, renames it over path and
// syncs the directory. On error, an existing file at path is left as it was
// and the temporary file is removed.
func WriteFile(path string, tensors map[string]Tensor, metadata map[string]string) error {
	header, order, err := encodeHeader(tensors, metadata)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, func(w io.Writer) error {
		return writeBody(w, header, order, tensors)
	})
}

func writeBody(w io.Writer, header []byte, order []string, tensors map[string]Tensor) error {
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(header)))
	if _, err := w.Write(n[:]); err != nil {
		return fmt.Errorf("safetensors: writing header length: %w", err)
	}
	if _, err := w.Write(header); err != nil {
		return fmt.Errorf("safetensors: writing header: %w", err)
	}
	for _, name := range order {
		if _, err := w.Write(tensors[name].Data); err != nil {
			return fmt.Errorf("safetensors: writing tensor %q: %w", name, err)
		}
	}
	return nil
}

// writeFileAtomic runs write on a temporary file beside path and renames it
// to path only when everything, including the sync to disk, succeeded.
func writeFileAtomic(path string, write func(io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("safetensors: writing %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close() // may already be closed; the first error is the one to report
			os.Remove(tmp)
		}
	}()
	bw := bufio.NewWriterSize(testhook.FileWriter(path, f), 1<<20)
	if err = write(bw); err != nil {
		return fmt.Errorf("safetensors: writing %s: %w", path, err)
	}
	if err = bw.Flush(); err != nil {
		return fmt.Errorf("safetensors: writing %s: %w", path, err)
	}
	if err = f.Chmod(0o644); err != nil {
		return fmt.Errorf("safetensors: writing %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("safetensors: syncing %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("safetensors: closing %s: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("safetensors: replacing %s: %w", path, err)
	}
	// Make the rename itself durable. Windows cannot open a directory for
	// syncing; there the rename is as durable as the file system makes it.
	if runtime.GOOS != "windows" {
		d, derr := os.Open(dir)
		if derr != nil {
			return fmt.Errorf("safetensors: syncing directory of %s: %w", path, derr)
		}
		derr = d.Sync()
		d.Close()
		if derr != nil {
			return fmt.Errorf("safetensors: syncing directory of %s: %w", path, derr)
		}
	}
	return nil
}

// writeOrder returns the tensor names in the order the reference
// implementation writes them: by dtype rank descending, then by name.
func writeOrder(tensors map[string]Tensor) []string {
	names := make([]string, 0, len(tensors))
	for name := range tensors {
		names = append(names, name)
	}
	slices.SortFunc(names, func(a, b string) int {
		ra, rb := dtypes[tensors[a].DType].rank, dtypes[tensors[b].DType].rank
		if ra != rb {
			return rb - ra
		}
		return strings.Compare(a, b)
	})
	return names
}

// encodeHeader validates the tensors and builds the padded JSON header exactly
// as serde_json writes it in the reference implementation: compact, the
// metadata first, then the tensors in file order, each as
// {"dtype":..,"shape":[..],"data_offsets":[begin,end]}.
func encodeHeader(tensors map[string]Tensor, metadata map[string]string) ([]byte, []string, error) {
	for name, t := range tensors {
		if name == metadataKey {
			return nil, nil, fmt.Errorf("safetensors: tensor name %q is reserved for metadata", name)
		}
		if !utf8.ValidString(name) {
			return nil, nil, fmt.Errorf("safetensors: tensor name %q is not valid UTF-8", name)
		}
		if err := t.check(); err != nil {
			return nil, nil, fmt.Errorf("safetensors: tensor %q: %w", name, err)
		}
	}
	for k, v := range metadata {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, nil, fmt.Errorf("safetensors: metadata %q: %q is not valid UTF-8", k, v)
		}
	}
	order := writeOrder(tensors)

	b := make([]byte, 0, 64+80*len(tensors))
	b = append(b, '{')
	if metadata != nil {
		b = appendJSONString(b, metadataKey)
		b = append(b, ':', '{')
		keys := make([]string, 0, len(metadata))
		for k := range metadata {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = appendJSONString(b, metadata[k])
		}
		b = append(b, '}')
	}
	var offset uint64
	for i, name := range order {
		t := tensors[name]
		if i > 0 || metadata != nil {
			b = append(b, ',')
		}
		b = appendJSONString(b, name)
		b = append(b, `:{"dtype":`...)
		b = appendJSONString(b, string(t.DType))
		b = append(b, `,"shape":[`...)
		for j, d := range t.Shape {
			if j > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, int64(d), 10)
		}
		b = append(b, `],"data_offsets":[`...)
		b = strconv.AppendUint(b, offset, 10)
		b = append(b, ',')
		offset += uint64(len(t.Data))
		b = strconv.AppendUint(b, offset, 10)
		b = append(b, ']', '}')
	}
	b = append(b, '}')
	for len(b)%8 != 0 {
		b = append(b, ' ')
	}
	if len(b) > maxHeaderSize {
		return nil, nil, fmt.Errorf("safetensors: header would be %d bytes, more than the %d readers accept", len(b), maxHeaderSize)
	}
	return b, order, nil
}

// appendJSONString appends s as a JSON string, escaped as serde_json escapes
// it: quote, backslash and control characters only, with the short forms
// \b \f \n \r \t and lower-case \u00XX for the rest.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			b = append(b, '\\', '"')
		case c == '\\':
			b = append(b, '\\', '\\')
		case c == '\b':
			b = append(b, '\\', 'b')
		case c == '\f':
			b = append(b, '\\', 'f')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
