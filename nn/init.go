package nn

import (
	"math/rand/v2"

	"github.com/kiln-ml/kiln/tensor"
)

// Init fills a freshly made weight tensor.
type Init func(t *tensor.Tensor, rng *rand.Rand)

// Normal initialises with N(0, std^2), GPT-2's choice (std 0.02).
func Normal(std float32) Init {
	return func(t *tensor.Tensor, rng *rand.Rand) {
		d := t.Data()
		for i := range d {
			d[i] = std * float32(rng.NormFloat64())
		}
	}
}

// Uniform initialises with U(-bound, bound).
func Uniform(bound float32) Init {
	return func(t *tensor.Tensor, rng *rand.Rand) {
		d := t.Data()
		for i := range d {
			d[i] = bound * (2*rng.Float32() - 1)
		}
	}
}

// Zeros initialises with zeros.
func Zeros() Init { return func(t *tensor.Tensor, _ *rand.Rand) { t.Fill(0) } }

// Constant initialises every element with v.
func Constant(v float32) Init { return func(t *tensor.Tensor, _ *rand.Rand) { t.Fill(v) } }

// initTensor makes a tensor of shape and applies init.
func initTensor(init Init, rng *rand.Rand, shape ...int) *tensor.Tensor {
	t := tensor.New(shape...)
	init(t, rng)
	return t
}
