package optim_test

import (
	"math/rand/v2"
	"testing"

	"github.com/kiln-ml/kiln/autograd"
	"github.com/kiln-ml/kiln/kernels"
	"github.com/kiln-ml/kiln/nn"
	"github.com/kiln-ml/kiln/optim"
	"github.com/kiln-ml/kiln/tensor"
)

// benchMLPTrainStep is the step of shared/bench/torch_mlp_bench.py: a
// 512-2048-512 MLP with ReLU, batch 256, MSE against a fixed random target,
// Adam(lr=1e-3); the input needs no gradient.
func benchMLPTrainStep(b *testing.B, threads int) {
	defer kernels.SetThreads(kernels.Threads())
	kernels.SetThreads(threads)
	rng := rand.New(rand.NewPCG(1, 2))
	fc1 := nn.NewLinear("fc1", 512, 2048, true, nn.Uniform(1/22.6), rng)
	fc2 := nn.NewLinear("fc2", 2048, 512, true, nn.Uniform(1/45.3), rng)
	params := nn.Collect(fc1, fc2)
	opt, err := optim.NewAdam(params, optim.AdamConfig{LR: 1e-3})
	if err != nil {
		b.Fatal(err)
	}
	x, y := tensor.Randn(rng, 256, 512), tensor.Randn(rng, 256, 512)
	tape := autograd.NewTape()
	step := func() {
		out := fc2.Forward(autograd.ReLU(fc1.Forward(tape.Const(x))))
		loss := autograd.Mean(autograd.Square(autograd.Sub(out, tape.Const(y))))
		loss.Backward()
		if err := opt.Step(); err != nil {
			b.Fatal(err)
		}
		opt.ZeroGrad()
		tape.Reset()
	}
	step()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		step()
	}
}

func BenchmarkMLPTrainStep1T(b *testing.B) { benchMLPTrainStep(b, 1) }
func BenchmarkMLPTrainStep2T(b *testing.B) { benchMLPTrainStep(b, 2) }
