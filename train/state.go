package train

import (
	"encoding"

	"github.com/kiln-ml/kiln/tensor"
)

// binaryState checkpoints anything that marshals itself to bytes (a PCG, a
// sampler).
type binaryState struct {
	v interface {
		encoding.BinaryMarshaler
		encoding.BinaryUnmarshaler
	}
}

func (b binaryState) SaveState() (map[string]*tensor.Tensor, []byte, error) {
	blob, err := b.v.MarshalBinary()
	return nil, blob, err
}

func (b binaryState) LoadState(_ map[string]*tensor.Tensor, blob []byte) error {
	return b.v.UnmarshalBinary(blob)
}
