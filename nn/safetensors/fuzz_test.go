package safetensors

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// FuzzRead checks that Read never panics, that every failure is reported as
// ErrInvalid (the input is in memory, so there is no I/O to fail), and that
// whatever it accepts is consistent and survives a write and a re-read.
func FuzzRead(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := Read(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error not marked ErrInvalid: %v", err)
			}
			return
		}
		tensors := make(map[string]Tensor, file.Len())
		total := 0
		for _, name := range file.Names() {
			tn, err := file.Tensor(name)
			if err != nil {
				t.Fatalf("listed tensor %q missing: %v", name, err)
			}
			if err := tn.check(); err != nil {
				t.Fatalf("accepted inconsistent tensor %q: %v", name, err)
			}
			total += len(tn.Data)
			tn.Float32s() // must not panic, whatever the dtype
			tn.Int64s()
			tensors[name] = tn
		}
		if total > len(b) {
			t.Fatalf("tensors hold %d bytes, more than the %d-byte file", total, len(b))
		}
		var buf bytes.Buffer
		if err := Write(&buf, tensors, file.Metadata); err != nil {
			t.Fatalf("cannot re-write an accepted file: %v", err)
		}
		again, err := Read(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
		if err != nil {
			t.Fatalf("cannot re-read a re-written file: %v", err)
		}
		if fmt.Sprint(again.Metadata) != fmt.Sprint(file.Metadata) || again.Len() != file.Len() {
			t.Fatalf("re-read differs: metadata %v vs %v, %d vs %d tensors", again.Metadata, file.Metadata, again.Len(), file.Len())
		}
		for name, want := range tensors {
			got, err := again.Tensor(name)
			if err != nil || got.DType != want.DType || fmt.Sprint(got.Shape) != fmt.Sprint(want.Shape) || !bytes.Equal(got.Data, want.Data) {
				t.Fatalf("tensor %q changed in a round trip: %v", name, err)
			}
		}
	})
}

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz/FuzzRead from the test cases")

// TestFuzzCorpus keeps the seed corpus in testdata/fuzz/FuzzRead in step with
// the valid and invalid cases above; run with -update-corpus to rewrite it.
func TestFuzzCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzRead")
	want := map[string][]byte{}
	for _, c := range validFiles() {
		want[corpusName("valid", c.name)] = c.file
	}
	for _, c := range invalidFiles() {
		want[corpusName("invalid", c.name)] = c.file
	}
	var written bytes.Buffer
	tensors := map[string]Tensor{
		"emb": F32([]int{2, 3}, []float32{1, 2, 3, 4, 5, 6}),
		"h":   {DType: Float16, Shape: []int{2}, Data: []byte{0, 0x3c, 0, 0xc0}},
		"n":   I64([]int{}, []int64{42}),
	}
	require.NoError(t, Write(&written, tensors, map[string]string{"step": "3"}))
	want["valid_written"] = written.Bytes()

	for name, b := range want {
		path := filepath.Join(dir, name)
		content := "go test fuzz v1\n[]byte(" + strconv.Quote(string(b)) + ")\n"
		if *updateCorpus {
			require.NoError(t, os.MkdirAll(dir, 0o755))
			require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
			continue
		}
		got, err := os.ReadFile(path)
		require.NoError(t, err, "seed corpus out of date: run go test -run TestFuzzCorpus -update-corpus")
		assert.Equal(t, content, string(got), name)
	}
}
