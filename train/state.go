package train

import (
	"encoding"
	"encoding/json"

	"github.com/kiln-ml/kiln/nn/safetensors"
	"github.com/kiln-ml/kiln/optim"
)

// binaryState checkpoints anything that marshals itself to bytes (a PCG, a
// sampler).
type binaryState struct {
	v interface {
		encoding.BinaryMarshaler
		encoding.BinaryUnmarshaler
	}
}

func (b binaryState) SaveState() (map[string]safetensors.Tensor, []byte, error) {
	blob, err := b.v.MarshalBinary()
	return nil, blob, err
}

func (b binaryState) LoadState(_ map[string]safetensors.Tensor, blob []byte) error {
	return b.v.UnmarshalBinary(blob)
}

// OptimizerState returns a Stateful that checkpoints o through its
// StateDict. New registers one for its optimizer; other loops (alignment,
// say) use it for theirs.
func OptimizerState(o optim.Optimizer) Stateful { return optimState{o} }

// optimState checkpoints an optim.Optimizer through its StateDict.
type optimState struct{ o optim.Optimizer }

type optimBlob struct {
	Kind string            `json:"kind"`
	LR   float64           `json:"lr"`
	Meta map[string]string `json:"meta,omitempty"`
}

func (s optimState) SaveState() (map[string]safetensors.Tensor, []byte, error) {
	sd := s.o.State()
	blob, err := json.Marshal(optimBlob{sd.Kind, sd.LR, sd.Meta})
	return sd.Tensors, blob, err
}

func (s optimState) LoadState(ts map[string]safetensors.Tensor, blob []byte) error {
	var b optimBlob
	if err := json.Unmarshal(blob, &b); err != nil {
		return err
	}
	return s.o.LoadState(&optim.StateDict{Kind: b.Kind, LR: b.LR, Tensors: ts, Meta: b.Meta})
}
