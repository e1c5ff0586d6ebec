package align

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/kiln-ml/kiln/autograd"
	"github.com/kiln-ml/kiln/nn/safetensors"
	"github.com/kiln-ml/kiln/tensor"
)

// The parts of an alignment checkpoint beside the policy's weights, each a
// train.Stateful: the optimizer, the example order, the loss's state, the
// reference model and the training data (which may have been sampled from
// an earlier policy, so it cannot be rebuilt on resumption).

// exampleSampler draws batches of example indices: a seeded permutation,
// reshuffled every epoch unless fixed (KTO wants a stable order).
type exampleSampler struct {
	n     int
	fixed bool
	order []int
	pos   int
	epoch int
	src   *rand.PCG
}

func newExampleSampler(n int, fixed bool, seed, stream uint64) *exampleSampler {
	s := &exampleSampler{n: n, fixed: fixed, src: rand.NewPCG(seed, stream)}
	s.shuffle()
	return s
}

func (s *exampleSampler) shuffle() {
	if s.order == nil || len(s.order) != s.n {
		s.order = make([]int, s.n)
		for i := range s.order {
			s.order[i] = i
		}
	}
	rand.New(s.src).Shuffle(s.n, func(i, j int) { s.order[i], s.order[j] = s.order[j], s.order[i] })
}

// next returns k indices, continuing into the next epoch when the current
// one runs out (so a batch larger than the data repeats examples).
func (s *exampleSampler) next(k int, dst []int) []int {
	dst = dst[:0]
	for len(dst) < k {
		if s.pos == s.n {
			s.pos = 0
			s.epoch++
			if !s.fixed {
				s.shuffle()
			}
		}
		dst = append(dst, s.order[s.pos])
		s.pos++
	}
	return dst
}

type samplerBlob struct {
	N     int    `json:"n"`
	Fixed bool   `json:"fixed"`
	Order []int  `json:"order"`
	Pos   int    `json:"pos"`
	Epoch int    `json:"epoch"`
	PCG   []byte `json:"pcg"`
}

func (s *exampleSampler) MarshalJSON() ([]byte, error) {
	pcg, err := s.src.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return json.Marshal(samplerBlob{s.n, s.fixed, s.order, s.pos, s.epoch, pcg})
}

func (s *exampleSampler) UnmarshalJSON(b []byte) error {
	var v samplerBlob
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	if len(v.Order) != v.N || v.Pos < 0 || v.Pos > v.N {
		return fmt.Errorf("align: sampler state: %d indices for %d examples at position %d", len(v.Order), v.N, v.Pos)
	}
	src := &rand.PCG{}
	if err := src.UnmarshalBinary(v.PCG); err != nil {
		return fmt.Errorf("align: sampler state: %w", err)
	}
	*s = exampleSampler{n: v.N, fixed: v.Fixed, order: v.Order, pos: v.Pos, epoch: v.Epoch, src: src}
	return nil
}

// jsonPart checkpoints anything JSON can carry, as a U8 tensor (a large
// data set would not fit the safetensors header that metadata lives in).
type jsonPart struct{ v any }

func (p jsonPart) SaveState() (map[string]safetensors.Tensor, []byte, error) {
	b, err := json.Marshal(p.v)
	if err != nil {
		return nil, nil, err
	}
	return map[string]safetensors.Tensor{"json": safetensors.U8([]int{len(b)}, b)}, []byte("json"), nil
}

func (p jsonPart) LoadState(ts map[string]safetensors.Tensor, _ []byte) error {
	t, ok := ts["json"]
	if !ok || t.DType != safetensors.Uint8 {
		return fmt.Errorf("align: checkpoint part lacks its u8 tensor \"json\"")
	}
	return json.Unmarshal(t.Data, p.v)
}

// lossPart checkpoints a Stateful loss.
type lossPart struct{ l Stateful }

func (p lossPart) SaveState() (map[string]safetensors.Tensor, []byte, error) {
	b, err := json.Marshal(p.l.State())
	return nil, b, err
}

func (p lossPart) LoadState(_ map[string]safetensors.Tensor, blob []byte) error {
	var s map[string]float64
	if err := json.Unmarshal(blob, &s); err != nil {
		return err
	}
	return p.l.SetState(s)
}

// paramsPart checkpoints a set of parameters (the reference model's).
type paramsPart struct{ params []*autograd.Var }

func (p paramsPart) SaveState() (map[string]safetensors.Tensor, []byte, error) {
	ts := make(map[string]safetensors.Tensor, len(p.params))
	for _, v := range p.params {
		c := v.Value().Contiguous()
		ts[v.Name()] = safetensors.F32(slices.Clone(c.Shape()), c.Data())
	}
	return ts, nil, nil
}

func (p paramsPart) LoadState(ts map[string]safetensors.Tensor, _ []byte) error {
	vals := make([][]float32, len(p.params))
	for i, v := range p.params {
		t, ok := ts[v.Name()]
		if !ok {
			return fmt.Errorf("align: parameter %q is missing", v.Name())
		}
		if !slices.Equal(t.Shape, v.Shape()) {
			return fmt.Errorf("align: parameter %q has shape %v, the model expects %v", v.Name(), t.Shape, v.Shape())
		}
		f, err := t.Float32s()
		if err != nil {
			return fmt.Errorf("align: parameter %q: %w", v.Name(), err)
		}
		vals[i] = f
	}
	if len(ts) != len(p.params) {
		return fmt.Errorf("align: the checkpoint holds %d parameters, the model has %d", len(ts), len(p.params))
	}
	for i, v := range p.params {
		v.Value().CopyFrom(tensor.FromSlice(vals[i], v.Shape()...))
	}
	return nil
}
