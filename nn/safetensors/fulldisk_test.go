package safetensors

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/kiln-ml/kiln/internal/testhook"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// diskFull passes the first n bytes through and then fails as a full disk
// does.
type diskFull struct {
	w io.Writer
	n int
}

func (d *diskFull) Write(p []byte) (int, error) {
	if len(p) <= d.n {
		d.n -= len(p)
		return d.w.Write(p)
	}
	k, err := d.w.Write(p[:d.n])
	d.n -= k
	if err == nil {
		err = syscall.ENOSPC
	}
	return k, err
}

// TestWriteFileFullDisk fills the disk at every stage of a write: the old
// file stays as it was, no temporary file is left behind, and the error
// says which file and why.
func TestWriteFileFullDisk(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "w.safetensors")
	old := map[string]Tensor{"a": F32([]int{2}, []float32{1, 2})}
	require.NoError(t, WriteFile(path, old, map[string]string{"v": "old"}))
	before, err := os.ReadFile(path)
	require.NoError(t, err)

	next := map[string]Tensor{"a": F32([]int{64}, make([]float32, 64)), "b": I64([]int{3}, []int64{1, 2, 3})}
	var buf bytes.Buffer
	require.NoError(t, Write(&buf, next, map[string]string{"v": "new"}))
	size := buf.Len()
	for _, n := range []int{0, 4, 8, 20, 200, size - 1, size} {
		restore := testhook.SetFileWriter(func(p string, w io.Writer) io.Writer {
			assert.Equal(t, path, p)
			return &diskFull{w: w, n: n}
		})
		err := WriteFile(path, next, map[string]string{"v": "new"})
		restore()
		if n >= size {
			require.NoError(t, err, "room for the whole file")
			f, err := ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, "new", f.Metadata["v"])
			require.NoError(t, os.WriteFile(path, before, 0o644))
			continue
		}
		require.Error(t, err, "disk full after %d bytes", n)
		assert.True(t, errors.Is(err, syscall.ENOSPC), "error %v does not wrap ENOSPC", err)
		assert.Contains(t, err.Error(), path)
		got, rerr := os.ReadFile(path)
		require.NoError(t, rerr)
		assert.Equal(t, before, got, "disk full after %d bytes: the old file changed", n)
		entries, rerr := os.ReadDir(dir)
		require.NoError(t, rerr)
		require.Len(t, entries, 1, "disk full after %d bytes: temporary file left behind", n)
	}
}
