package train

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/kiln-ml/kiln/autograd"
	"github.com/kiln-ml/kiln/nn/safetensors"
	"github.com/kiln-ml/kiln/tensor"
)

// Stateful is anything whose state belongs in a checkpoint beside the
// weights (an optimizer, a schedule controller): named tensors and an opaque
// blob for everything else.
type Stateful interface {
	SaveState() (tensors map[string]safetensors.Tensor, blob []byte, err error)
	LoadState(tensors map[string]safetensors.Tensor, blob []byte) error
}

// Checkpoint is what a run saves to resume exactly: weights, the state of
// stateful parts (optimizer, ...), the step and free-form metadata (configs,
// RNG states). It is one safetensors file, written atomically; the weights
// are stored under "model.<name>", so any safetensors reader can use them.
type Checkpoint struct {
	Step   int
	Params []*autograd.Var
	Parts  map[string]Stateful // e.g. "optim"
	Meta   map[string]string   // e.g. "model" -> model config JSON
}

const (
	metaFormat = "kiln.format"
	metaStep   = "kiln.step"
	metaPrefix = "kiln.meta."
	partPrefix = "kiln.part."
	modelTag   = "model."
)

// Save writes the checkpoint to path atomically: a crash or a full disk
// leaves the previous file intact.
func (c *Checkpoint) Save(path string) error {
	tensors := map[string]safetensors.Tensor{}
	meta := map[string]string{metaFormat: "1", metaStep: strconv.Itoa(c.Step)}
	for _, p := range c.Params {
		v := p.Value().Contiguous()
		tensors[modelTag+p.Name()] = safetensors.F32(slices.Clone(v.Shape()), v.Data())
	}
	for name, part := range c.Parts {
		ts, blob, err := part.SaveState()
		if err != nil {
			return fmt.Errorf("train: checkpoint %s: state of %s: %w", path, name, err)
		}
		for k, t := range ts {
			tensors[name+"."+k] = t
		}
		meta[partPrefix+name] = base64.StdEncoding.EncodeToString(blob)
	}
	for k, v := range c.Meta {
		meta[metaPrefix+k] = v
	}
	if err := safetensors.WriteFile(path, tensors, meta); err != nil {
		return fmt.Errorf("train: checkpoint: %w", err)
	}
	return nil
}

// CheckpointFile is a checkpoint read from disk, to be applied to a model
// and its stateful parts.
type CheckpointFile struct {
	Path string
	Step int
	Meta map[string]string
	f    *safetensors.File
}

// OpenCheckpoint reads and validates a checkpoint file. It fails with a
// clear error on a truncated or corrupted file, or one kiln did not write.
func OpenCheckpoint(path string) (*CheckpointFile, error) {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("train: checkpoint: %w", err)
	}
	if f.Metadata[metaFormat] != "1" {
		return nil, fmt.Errorf("train: %s is not a kiln checkpoint (no %s metadata); use it as weights with nn.Load", path, metaFormat)
	}
	step, err := strconv.Atoi(f.Metadata[metaStep])
	if err != nil || step < 0 {
		return nil, fmt.Errorf("train: checkpoint %s: invalid step %q", path, f.Metadata[metaStep])
	}
	c := &CheckpointFile{Path: path, Step: step, Meta: map[string]string{}, f: f}
	for k, v := range f.Metadata {
		if rest, ok := strings.CutPrefix(k, metaPrefix); ok {
			c.Meta[rest] = v
		}
	}
	return c, nil
}

// LoadParams copies the saved weights into params, checking names and
// shapes; on error nothing is changed.
func (c *CheckpointFile) LoadParams(params []*autograd.Var) error {
	vals := make([][]float32, len(params))
	for i, p := range params {
		t, err := c.f.Tensor(modelTag + p.Name())
		if err != nil {
			return fmt.Errorf("train: checkpoint %s: parameter %q is missing", c.Path, p.Name())
		}
		if !slices.Equal(t.Shape, p.Shape()) {
			return fmt.Errorf("train: checkpoint %s: parameter %q has shape %v, the model expects %v", c.Path, p.Name(), t.Shape, p.Shape())
		}
		if vals[i], err = t.Float32s(); err != nil {
			return fmt.Errorf("train: checkpoint %s: parameter %q: %w", c.Path, p.Name(), err)
		}
	}
	n := 0
	for _, name := range c.f.Names() {
		if strings.HasPrefix(name, modelTag) {
			n++
		}
	}
	if n != len(params) {
		return fmt.Errorf("train: checkpoint %s: holds %d parameters, the model has %d", c.Path, n, len(params))
	}
	for i, p := range params {
		p.Value().CopyFrom(tensor.FromSlice(vals[i], p.Shape()...))
	}
	return nil
}

// NumParams returns the number of weights the checkpoint holds, so that a
// caller building a model from a config in the file's metadata can check
// that the config fits the file before allocating the model.
func (c *CheckpointFile) NumParams() int {
	n := 0
	for _, name := range c.f.Names() {
		if strings.HasPrefix(name, modelTag) {
			t, _ := c.f.Tensor(name)
			n += t.NumElements()
		}
	}
	return n
}

// HasPart reports whether the checkpoint holds state for the named part.
func (c *CheckpointFile) HasPart(name string) bool {
	_, ok := c.f.Metadata[partPrefix+name]
	return ok
}

// LoadPart restores the named part's state.
func (c *CheckpointFile) LoadPart(name string, part Stateful) error {
	enc, ok := c.f.Metadata[partPrefix+name]
	if !ok {
		return fmt.Errorf("train: checkpoint %s has no state for %s", c.Path, name)
	}
	blob, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return fmt.Errorf("train: checkpoint %s: state of %s: %w", c.Path, name, err)
	}
	tensors := map[string]safetensors.Tensor{}
	prefix := name + "."
	for _, n := range c.f.Names() {
		k, ok := strings.CutPrefix(n, prefix)
		if !ok {
			continue
		}
		t, err := c.f.Tensor(n)
		if err != nil {
			return err
		}
		tensors[k] = t
	}
	if err := part.LoadState(tensors, blob); err != nil {
		return fmt.Errorf("train: checkpoint %s: state of %s: %w", c.Path, name, err)
	}
	return nil
}
