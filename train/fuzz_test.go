package train

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/kiln-ml/kiln/models/data"
	"github.com/kiln-ml/kiln/models/gpt"
	"github.com/kiln-ml/kiln/optim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var writeSeeds = flag.Bool("write-seeds", false, "rewrite the seed corpora in testdata/fuzz from the crafted cases")

// fuzzRun is the smallest complete run: a 1-layer GPT over 8 token ids with
// AdamW, so that its checkpoint is a few kilobytes.
func fuzzRun(tb testing.TB) *Trainer {
	tb.Helper()
	m, err := gpt.New(gpt.Config{Vocab: 8, Context: 4, Dim: 4, Layers: 1, Heads: 1, MLP: 8}, rand.New(rand.NewPCG(3, 4)))
	require.NoError(tb, err)
	opt, err := optim.New("adamw", m.Parameters(), 1e-2, 0.1)
	require.NoError(tb, err)
	rng := rand.New(rand.NewPCG(5, 6))
	ids := make([]int, 80)
	for i := range ids {
		ids[i] = rng.IntN(8)
	}
	ds := &data.Dataset{Train: ids[:64], Val: ids[64:], VocabSize: 8}
	tr, err := New(Config{Steps: 50, Batch: 2, Context: 4, LR: 1e-2, EvalEvery: 2, EvalBatches: 1, Seed: 9}, m, opt, ds)
	require.NoError(tb, err)
	return tr
}

// validCheckpoint returns the bytes of the checkpoint fuzzRun writes after
// two steps.
func validCheckpoint(tb testing.TB) []byte {
	tb.Helper()
	tr := fuzzRun(tb)
	tr.cfg.OutDir = tb.TempDir()
	tr.cfg.Steps = 2
	_, err := tr.Run(context.Background())
	require.NoError(tb, err)
	b, err := os.ReadFile(tr.CheckpointPath())
	require.NoError(tb, err)
	return b
}

// splitFile returns a safetensors file's header, decoded, and its data.
func splitFile(tb testing.TB, b []byte) (map[string]any, []byte) {
	tb.Helper()
	n := binary.LittleEndian.Uint64(b)
	var h map[string]any
	require.NoError(tb, json.Unmarshal(b[8:8+n], &h))
	return h, b[8+n:]
}

// joinFile encodes a header and appends data, as a file with whatever
// inconsistencies the header was given.
func joinFile(tb testing.TB, h map[string]any, data []byte) []byte {
	tb.Helper()
	hb, err := json.Marshal(h)
	require.NoError(tb, err)
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(hb)))
	return append(append(out, hb...), data...)
}

// craftedCheckpoints derives damaged and hostile files from a valid
// checkpoint: each must be rejected with an error, never a panic, and
// without allocating for what the header claims.
func craftedCheckpoints(tb testing.TB, valid []byte) map[string][]byte {
	tb.Helper()
	edit := func(fn func(h map[string]any, meta map[string]any) []byte) []byte {
		h, data := splitFile(tb, valid)
		var meta map[string]any
		if m, ok := h["__metadata__"].(map[string]any); ok {
			meta = m
		}
		if out := fn(h, meta); out != nil {
			return out
		}
		return joinFile(tb, h, data)
	}
	entry := func(h map[string]any, name string) map[string]any { return h[name].(map[string]any) }
	out := map[string][]byte{
		"empty":                {},
		"header_length_only":   valid[:8],
		"truncated_header":     valid[:len(valid)/8],
		"truncated_data":       valid[:len(valid)-3],
		"header_length_2^63":   append(binary.LittleEndian.AppendUint64(nil, 1<<63), valid[8:]...),
		"header_length_99MB":   append(binary.LittleEndian.AppendUint64(nil, 99_000_000), valid[8:]...),
		"header_length_beyond": append(binary.LittleEndian.AppendUint64(nil, uint64(len(valid))), valid[8:]...),
	}
	out["huge_shape"] = edit(func(h, _ map[string]any) []byte {
		entry(h, "model.wte.weight")["shape"] = []any{1 << 40, 1 << 20}
		return nil
	})
	out["huge_shape_and_offsets"] = edit(func(h, _ map[string]any) []byte {
		e := entry(h, "model.wte.weight")
		e["shape"] = []any{1 << 40}
		e["data_offsets"] = []any{0, 4 << 40}
		return nil
	})
	out["shape_overflows"] = edit(func(h, _ map[string]any) []byte {
		entry(h, "model.wte.weight")["shape"] = []any{uint64(1) << 62, 16}
		return nil
	})
	out["overlapping_offsets"] = edit(func(h, _ map[string]any) []byte {
		e := entry(h, "model.wpe.weight")
		offs := e["data_offsets"].([]any)
		e["data_offsets"] = []any{offs[0].(float64) - 4, offs[1].(float64) - 4}
		return nil
	})
	out["every_tensor_at_zero"] = edit(func(h, _ map[string]any) []byte {
		for k, v := range h {
			if k != "__metadata__" {
				e := v.(map[string]any)
				offs := e["data_offsets"].([]any)
				e["data_offsets"] = []any{0, offs[1].(float64) - offs[0].(float64)}
			}
		}
		return nil
	})
	out["f16_weights"] = edit(func(h, _ map[string]any) []byte {
		entry(h, "model.wte.weight")["dtype"] = "F16"
		return nil
	})
	out["unknown_dtype"] = edit(func(h, _ map[string]any) []byte {
		entry(h, "model.wte.weight")["dtype"] = "F128"
		return nil
	})
	out["renamed_weight"] = edit(func(h, _ map[string]any) []byte {
		h["model.wte.weight2"] = h["model.wte.weight"]
		delete(h, "model.wte.weight")
		return nil
	})
	out["transposed_weight"] = edit(func(h, _ map[string]any) []byte {
		e := entry(h, "model.blocks.0.mlp.fc.weight")
		s := e["shape"].([]any)
		e["shape"] = []any{s[1], s[0]}
		return nil
	})
	for _, c := range []struct{ name, key, value string }{
		{"format_2", "kiln.format", "2"},
		{"step_negative", "kiln.step", "-1"},
		{"step_huge", "kiln.step", "99999999999999999999"},
		{"step_past_run", "kiln.step", "51"},
		{"optim_not_base64", "kiln.part.optim", "not base64!"},
		{"optim_lion", "kiln.part.optim", "eyJraW5kIjoibGlvbiIsImxyIjowLjAxfQ=="}, // {"kind":"lion","lr":0.01}
		{"optim_empty_object", "kiln.part.optim", "e30="},                         // {}
		{"optim_null", "kiln.part.optim", "bnVsbA=="},                             // null
		{"sampler_short", "kiln.part.sampler", "AAAA"},
		{"sampler_empty", "kiln.part.sampler", ""},
		{"dropout_empty", "kiln.part.dropout", ""},
		{"tokens_negative", "kiln.meta.tokens", "-5"},
		{"skipped_not_number", "kiln.meta.skipped", "x"},
	} {
		out["meta_"+c.name] = edit(func(_, meta map[string]any) []byte {
			meta[c.key] = c.value
			return nil
		})
	}
	out["no_metadata"] = edit(func(h, _ map[string]any) []byte {
		delete(h, "__metadata__")
		return nil
	})
	out["optim_step_negative"] = edit(func(h, _ map[string]any) []byte {
		for k, v := range h {
			if strings.HasSuffix(k, ".step") && strings.HasPrefix(k, "optim.") {
				v.(map[string]any)["dtype"] = "I64"
			}
		}
		_, data := splitFile(tb, valid)
		data = slices.Clone(data)
		for k, v := range h {
			if strings.HasSuffix(k, ".step") && strings.HasPrefix(k, "optim.") {
				offs := v.(map[string]any)["data_offsets"].([]any)
				binary.LittleEndian.PutUint64(data[int(offs[0].(float64)):], uint64(1)<<63)
			}
		}
		return joinFile(tb, h, data)
	})
	return out
}

// allocBound is what reading an n-byte checkpoint into the fuzz run may
// allocate: a small multiple of the file (the data buffer, float32 copies
// of the tensors, the parsed header) and a fixed allowance.
func allocBound(n int) uint64 { return 32*uint64(n) + 1<<20 }

// resumeWithin resumes tr from path and fails if that allocated more than
// allocBound of the file's size.
func resumeWithin(t testing.TB, tr *Trainer, path string, size int) error {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err := tr.Resume(path)
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > allocBound(size) {
		t.Fatalf("resuming from a %d-byte file allocated %d bytes, more than %d (err: %v)", size, got, allocBound(size), err)
	}
	return err
}

// FuzzOpenCheckpoint feeds arbitrary files to the whole resume path
// (OpenCheckpoint, LoadParams and LoadPart into a GPT, AdamW, the batch
// sampler and the dropout RNG). It must never panic, never allocate more
// than a small multiple of the file, and a checkpoint it accepts must train
// on without panicking.
func FuzzOpenCheckpoint(f *testing.F) {
	valid := validCheckpoint(f)
	f.Add(valid)
	for _, b := range craftedCheckpoints(f, valid) {
		f.Add(b)
	}
	path := filepath.Join(fuzzDir(f), "checkpoint.safetensors")
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		tr := fuzzRun(t)
		if err := resumeWithin(t, tr, path, len(b)); err != nil {
			if !strings.HasPrefix(err.Error(), "train: ") {
				t.Fatalf("error does not say where it comes from: %v", err)
			}
			return
		}
		if tr.Step() < 0 || tr.Step() > tr.Config().Steps {
			t.Fatalf("accepted step %d outside [0, %d]", tr.Step(), tr.Config().Steps)
		}
		tr.cfg.Steps = min(tr.cfg.Steps, tr.Step()+1)
		if _, err := tr.Run(context.Background()); err != nil && !strings.Contains(err.Error(), "not finite") {
			t.Fatalf("a step after an accepted resume failed: %v", err)
		}
	})
}

func TestCheckpointCraftedFilesRejected(t *testing.T) {
	valid := validCheckpoint(t)
	path := filepath.Join(t.TempDir(), "c.safetensors")
	require.NoError(t, os.WriteFile(path, valid, 0o644))
	require.NoError(t, resumeWithin(t, fuzzRun(t), path, len(valid)), "the valid checkpoint loads")
	for name, b := range craftedCheckpoints(t, valid) {
		require.NoError(t, os.WriteFile(path, b, 0o644))
		err := resumeWithin(t, fuzzRun(t), path, len(b))
		assert.Error(t, err, name)
	}
}

// TestCheckpointHugeClaimsAllocateNothing checks that a header claiming
// terabytes is refused before anything of that size is allocated: opening
// it costs about as much as opening a valid file of the same size.
func TestCheckpointHugeClaimsAllocateNothing(t *testing.T) {
	valid := validCheckpoint(t)
	crafted := craftedCheckpoints(t, valid)
	dir := t.TempDir()
	for _, name := range []string{"huge_shape", "huge_shape_and_offsets", "shape_overflows", "overlapping_offsets", "header_length_2^63", "header_length_99MB"} {
		b := crafted[name]
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, b, 0o644))
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := OpenCheckpoint(path)
		runtime.ReadMemStats(&after)
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), "invalid file", name)
		// The header is parsed into small objects; the data buffer, the
		// only allocation as large as the file, is never made.
		assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(16*len(b)+64<<10), "%s: %v", name, err)
	}
}

// FuzzReadMetrics checks that DecodeMetrics never panics and that what it
// accepts survives a write and a re-read unchanged.
func FuzzReadMetrics(f *testing.F) {
	for _, s := range metricsSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := DecodeMetrics(bytes.NewReader(b))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		for _, r := range recs {
			line, err := json.Marshal(r)
			if err != nil {
				t.Fatalf("cannot re-write accepted record %+v: %v", r, err)
			}
			buf.Write(append(line, '\n'))
		}
		again, err := DecodeMetrics(&buf)
		if err != nil {
			t.Fatalf("cannot re-read re-written records: %v\n%s", err, buf.Bytes())
		}
		if len(again) != len(recs) {
			t.Fatalf("%d records re-read as %d", len(recs), len(again))
		}
		for i := range recs {
			if !sameRecord(recs[i], again[i]) {
				t.Fatalf("record %d changed in a round trip: %+v became %+v", i, recs[i], again[i])
			}
		}
	})
}

// sameRecord compares records with NaN equal to NaN.
func sameRecord(a, b Record) bool {
	same := func(x, y float64) bool { return x == y || (math.IsNaN(x) && math.IsNaN(y)) }
	if (a.ValLoss == nil) != (b.ValLoss == nil) || (a.ValLoss != nil && !same(*a.ValLoss, *b.ValLoss)) {
		return false
	}
	a.ValLoss, b.ValLoss = nil, nil
	if !same(a.Loss, b.Loss) || !same(a.GradNorm, b.GradNorm) || !same(a.GradNormL1, b.GradNormL1) {
		return false
	}
	a.Loss, b.Loss, a.GradNorm, b.GradNorm, a.GradNormL1, b.GradNormL1 = 0, 0, 0, 0, 0, 0
	if len(a.Extra) == 0 && len(b.Extra) == 0 {
		a.Extra, b.Extra = nil, nil
	}
	return reflect.DeepEqual(a, b)
}

func metricsSeeds() map[string]string {
	return map[string]string{
		"empty":      "",
		"one":        `{"step":1,"loss":5.5,"lr":0.001,"grad_norm":1.5,"grad_norm_l1":20,"tokens":64,"tokens_per_sec":1000,"elapsed_sec":0.1}` + "\n",
		"val_extra":  `{"step":2,"loss":5.1,"val_loss":5.2,"lr":0.002,"grad_norm":1,"grad_norm_l1":2,"tokens":128,"tokens_per_sec":1,"elapsed_sec":1,"extra":{"kl":0.5}}` + "\n",
		"nulls":      `{"step":3,"loss":null,"lr":0.001,"grad_norm":null,"grad_norm_l1":null,"skipped":true,"tokens":192,"tokens_per_sec":0,"elapsed_sec":2}` + "\n",
		"torn_last":  `{"step":1,"loss":5.5,"lr":0.001}` + "\n" + `{"step":2,"lo`,
		"torn_mid":   `{"step":1,"lo` + "\n" + `{"step":2,"loss":1}` + "\n",
		"blank":      "\n\n  \n" + `{"step":1}` + "\n\r\n",
		"wrong_type": `{"step":"one","loss":[]}` + "\n",
		"not_object": "[1,2,3]\n42\n",
		"big_number": `{"step":1e400}` + "\n",
		"huge_step":  `{"step":99999999999999999999999}` + "\n",
	}
}

// TestWriteFuzzSeeds writes the seed corpora of this package's fuzz
// targets to testdata/fuzz when run with -write-seeds, and otherwise checks
// that every crafted case has a seed file.
func TestWriteFuzzSeeds(t *testing.T) {
	valid := validCheckpoint(t)
	seeds := map[string]map[string][]byte{"FuzzOpenCheckpoint": craftedCheckpoints(t, valid), "FuzzReadMetrics": {}}
	seeds["FuzzOpenCheckpoint"]["valid"] = valid
	for name, s := range metricsSeeds() {
		seeds["FuzzReadMetrics"][name] = []byte(s)
	}
	for target, files := range seeds {
		dir := filepath.Join("testdata", "fuzz", target)
		for name, b := range files {
			path := filepath.Join(dir, strings.NewReplacer("^", "pow", " ", "_").Replace(name))
			if *writeSeeds {
				require.NoError(t, os.MkdirAll(dir, 0o755))
				content := "go test fuzz v1\n[]byte(" + strconv.Quote(string(b)) + ")\n"
				require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
				continue
			}
			_, err := os.Stat(path)
			assert.NoError(t, err, "seed missing: run go test ./train -run TestWriteFuzzSeeds -write-seeds")
		}
	}
}

// fuzzDir returns a directory for the files a fuzz target writes, one per
// input: in memory where the system has a tmpfs at /dev/shm, since writing
// them to disk would make the disk the fuzzer's bottleneck.
func fuzzDir(f *testing.F) string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "kiln-fuzz-"); err == nil {
			f.Cleanup(func() { os.RemoveAll(d) })
			return d
		}
	}
	return f.TempDir()
}
