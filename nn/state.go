package nn

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/kiln-ml/kiln/autograd"
	"github.com/kiln-ml/kiln/nn/safetensors"
	"github.com/kiln-ml/kiln/tensor"
)

// StateDict returns the parameters' values by name as safetensors tensors
// (float32, little-endian), ready to write.
func StateDict(params []*autograd.Var) map[string]safetensors.Tensor {
	out := make(map[string]safetensors.Tensor, len(params))
	for _, p := range params {
		v := p.Value().Contiguous()
		out[p.Name()] = safetensors.F32(slices.Clone(v.Shape()), v.Data())
	}
	return out
}

// Save writes the parameters to a safetensors file atomically: the file is
// either the old one or the complete new one, never half-written.
func Save(path string, params []*autograd.Var, metadata map[string]string) error {
	return safetensors.WriteFile(path, StateDict(params), metadata)
}

// Load reads a safetensors file written by Save (or by PyTorch) into the
// parameters. Every parameter must be present with the same shape, and the
// file must hold nothing else; on any error no parameter is changed.
func Load(path string, params []*autograd.Var) (map[string]string, error) {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return f.Metadata, LoadFrom(f, params)
}

// LoadFrom copies the tensors of an open safetensors file into the
// parameters, with the checks of Load.
func LoadFrom(f *safetensors.File, params []*autograd.Var) error {
	vals := make([][]float32, len(params))
	want := map[string]bool{}
	for i, p := range params {
		want[p.Name()] = true
		t, err := f.Tensor(p.Name())
		if err != nil {
			return fmt.Errorf("nn.Load: parameter %q: %w", p.Name(), err)
		}
		if !slices.Equal(t.Shape, p.Shape()) {
			return fmt.Errorf("nn.Load: parameter %q has shape %v in the file, the model expects %v", p.Name(), t.Shape, p.Shape())
		}
		v, err := t.Float32s()
		if err != nil {
			return fmt.Errorf("nn.Load: parameter %q: %w", p.Name(), err)
		}
		vals[i] = v
	}
	var extra []string
	for _, n := range f.Names() {
		if !want[n] {
			extra = append(extra, n)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return fmt.Errorf("nn.Load: the file has tensors the model does not: %s", strings.Join(extra, ", "))
	}
	for i, p := range params {
		p.Value().CopyFrom(tensor.FromSlice(vals[i], p.Shape()...))
	}
	return nil
}
