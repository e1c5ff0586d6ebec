package optim

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/kiln-ml/kiln/nn/safetensors"
)

// StateDict is an optimizer's state in a form a checkpoint can hold: named
// tensors, as safetensors writes them, plus a few strings.
type StateDict struct {
	// Kind names the optimizer that wrote the state ("adamw", "lion", ...);
	// LoadState refuses the state of another kind.
	Kind string
	// LR is the base learning rate.
	LR float64
	// Tensors holds, for each parameter name (its index, for a parameter
	// without a name), "<name>.step" (int64 scalar:
	// updates applied) and "<name>.<slot>" (float32, the parameter's shape)
	// for each state buffer, with PyTorch's slot names: "exp_avg",
	// "exp_avg_sq", "max_exp_avg_sq", "momentum_buffer".
	Tensors map[string]safetensors.Tensor
	// Meta holds whatever else an optimizer or a wrapper keeps, as strings.
	Meta map[string]string
}

// Metadata keys WriteState reserves for the fields of StateDict.
const (
	metaKind = "optim.kind"
	metaLR   = "optim.lr"
)

// State returns a copy of the optimizer's state.
func (b *base) State() *StateDict {
	sd := &StateDict{Kind: b.kind, LR: b.lr, Tensors: make(map[string]safetensors.Tensor, len(b.slots)*(1+len(b.names)))}
	for i := range b.slots {
		s := &b.slots[i]
		shape := s.v.Shape()
		sd.Tensors[s.key+".step"] = safetensors.I64([]int{}, []int64{s.st.Step})
		for k, name := range b.names {
			sd.Tensors[s.key+"."+name] = safetensors.F32(shape, s.st.Buf[k])
		}
	}
	return sd
}

// LoadState replaces the state with sd after checking that it fits: same
// kind, and exactly the expected tensors with the parameters' shapes.
func (b *base) LoadState(sd *StateDict) error {
	if sd == nil {
		return errors.New("optim.LoadState: nil state")
	}
	if sd.Kind != b.kind {
		return fmt.Errorf("optim.LoadState: the state is of a %q optimizer, this one is %q", sd.Kind, b.kind)
	}
	if !finite(sd.LR) || sd.LR < 0 {
		return fmt.Errorf("optim.LoadState: learning rate %v in the state must be finite and at least 0", sd.LR)
	}
	steps := make([]int64, len(b.slots))
	bufs := make([][][]float32, len(b.slots))
	want := make(map[string]bool, len(sd.Tensors))
	var missing []string
	var errs []error
	for i := range b.slots {
		s := &b.slots[i]
		key := s.key + ".step"
		want[key] = true
		if t, ok := sd.Tensors[key]; !ok {
			missing = append(missing, key)
		} else if step, err := stepValue(t); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
		} else {
			steps[i] = step
		}
		bufs[i] = make([][]float32, len(b.names))
		for k, name := range b.names {
			key := s.key + "." + name
			want[key] = true
			t, ok := sd.Tensors[key]
			if !ok {
				missing = append(missing, key)
				continue
			}
			if !slices.Equal(t.Shape, s.v.Shape()) {
				errs = append(errs, fmt.Errorf("%s has shape %v, the parameter has shape %v", key, t.Shape, s.v.Shape()))
				continue
			}
			v, err := t.Float32s()
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", key, err))
				continue
			}
			bufs[i][k] = v
		}
	}
	errs = append(errs, keyErrors(missing, want, sd)...)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("optim.LoadState: the %s state does not fit this optimizer: %w", b.kind, err)
	}
	for i := range b.slots {
		b.slots[i].st.Step = steps[i]
		for k := range b.names {
			copy(b.slots[i].st.Buf[k], bufs[i][k])
		}
	}
	b.lr = sd.LR
	return nil
}

// stepValue reads a step counter: an int64 scalar, not negative.
func stepValue(t safetensors.Tensor) (int64, error) {
	if len(t.Shape) != 0 {
		return 0, fmt.Errorf("a step count must be a scalar, have shape %v", t.Shape)
	}
	v, err := t.Int64s()
	if err != nil {
		return 0, err
	}
	if v[0] < 0 {
		return 0, fmt.Errorf("step count %d is negative", v[0])
	}
	return v[0], nil
}

// listNames formats names for an error, at most 5 of them.
func listNames(names []string) string {
	const show = 5
	noun := "tensors"
	if len(names) == 1 {
		noun = "tensor"
	}
	if len(names) <= show {
		return fmt.Sprintf("%d %s: %s", len(names), noun, strings.Join(names, ", "))
	}
	return fmt.Sprintf("%d %s: %s and %d more", len(names), noun, strings.Join(names[:show], ", "), len(names)-show)
}

// WriteState writes sd to a safetensors file atomically. Kind and LR go
// into the header's metadata with Meta.
func WriteState(path string, sd *StateDict) error {
	meta := make(map[string]string, len(sd.Meta)+2)
	for k, v := range sd.Meta {
		if k == metaKind || k == metaLR {
			return fmt.Errorf("optim.WriteState: metadata key %q is reserved", k)
		}
		meta[k] = v
	}
	meta[metaKind] = sd.Kind
	meta[metaLR] = strconv.FormatFloat(sd.LR, 'g', -1, 64)
	if err := safetensors.WriteFile(path, sd.Tensors, meta); err != nil {
		return fmt.Errorf("optim.WriteState: %w", err)
	}
	return nil
}

// ReadState reads a state written by WriteState.
func ReadState(path string) (*StateDict, error) {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("optim.ReadState: %w", err)
	}
	kind, ok := f.Metadata[metaKind]
	if !ok {
		return nil, fmt.Errorf("optim.ReadState: %s has no %q metadata; it was not written by WriteState", path, metaKind)
	}
	lr, err := strconv.ParseFloat(f.Metadata[metaLR], 64)
	if err != nil {
		return nil, fmt.Errorf("optim.ReadState: %s: learning rate %q: %w", path, f.Metadata[metaLR], err)
	}
	sd := &StateDict{Kind: kind, LR: lr, Tensors: make(map[string]safetensors.Tensor, f.Len())}
	for _, name := range f.Names() {
		t, err := f.Tensor(name)
		if err != nil {
			return nil, fmt.Errorf("optim.ReadState: %w", err)
		}
		sd.Tensors[name] = t
	}
	rest := maps.Clone(f.Metadata)
	delete(rest, metaKind)
	delete(rest, metaLR)
	if len(rest) > 0 {
		sd.Meta = rest
	}
	return sd, nil
}

// keyErrors reports the tensors a state dict lacks (missing) and those it
// holds that the optimizer does not want.
func keyErrors(missing []string, want map[string]bool, sd *StateDict) []error {
	var errs []error
	if len(missing) > 0 {
		errs = append(errs, fmt.Errorf("missing %s", listNames(missing)))
	}
	var extra []string
	for key := range sd.Tensors {
		if !want[key] {
			extra = append(extra, key)
		}
	}
	if len(extra) > 0 {
		slices.Sort(extra)
		errs = append(errs, fmt.Errorf("unexpected %s (from other parameters or another configuration)", listNames(extra)))
	}
	return errs
}
