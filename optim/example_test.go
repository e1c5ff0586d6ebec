package optim_test

import (
	"fmt"

	"github.com/kiln-ml/kiln/autograd"
	"github.com/kiln-ml/kiln/optim"
	"github.com/kiln-ml/kiln/tensor"
)

// Fit a weight matrix by least squares with AdamW, gradient clipping and a
// cosine schedule with warm-up.
func Example() {
	w := autograd.Param(tensor.New(2, 2)).SetName("fc.weight")
	b := autograd.Param(tensor.New(2)).SetName("fc.bias")
	params := []*autograd.Var{w, b}
	x := autograd.Const(tensor.FromSlice([]float32{1, 0, 0, 1, 1, 1}, 3, 2))
	y := autograd.Const(tensor.FromSlice([]float32{2, -1, 1, 3, 3, 2}, 3, 2)) // x·wᵀ for w = [[2 1] [-1 3]]

	opt, err := optim.NewAdamW(params, optim.AdamWConfig{LR: 0.1, WeightDecay: 0.01})
	if err != nil {
		panic(err)
	}
	const peak, steps = 0.1, 300
	sched := optim.Cosine{Warmup: 10, Total: steps, Floor: 0.01}
	for step := range steps {
		diff := autograd.Sub(autograd.Linear(x, w, b), y) // x·wᵀ + b − y
		loss := autograd.Mean(autograd.Square(diff))
		loss.Backward()
		optim.ClipGradNorm(params, 1)
		opt.SetLR(peak * sched.Factor(step))
		if err := opt.Step(); err != nil {
			panic(err)
		}
		opt.ZeroGrad()
	}
	for _, g := range opt.Groups() {
		fmt.Println(g.Name, g.Params, "weight decay", g.WeightDecay)
	}
	fmt.Printf("w = %.1f\n", w.Value().Data())
	// Output:
	// decay [fc.weight] weight decay 0.01
	// no_decay [fc.bias] weight decay 0
	// w = [2.0 1.0 -1.0 3.0]
}

// Build a schedule by name, as a command line does, and read a few factors.
func ExampleParseSchedule() {
	sched, err := optim.ParseSchedule("wsd", 100, 10, optim.ScheduleOptions{})
	if err != nil {
		panic(err)
	}
	for _, step := range []int{0, 5, 10, 79, 80, 90, 100} {
		fmt.Printf("%d:%.2f ", step, sched.Factor(step))
	}
	fmt.Println()
	// Output: 0:0.00 5:0.50 10:1.00 79:1.00 80:1.00 90:0.50 100:0.00
}

// A refined schedule from the gradient norms of a previous run: constant
// norms give a linear decay; large early norms a warm-up.
func ExampleNewRefined() {
	r, err := optim.NewRefined([]float64{4, 2, 1, 1, 1, 1, 1, 1}, optim.RefinedConfig{Power: 2})
	if err != nil {
		panic(err)
	}
	fmt.Printf("%.3f\n", r.Factors())
	// Output: [0.078 0.300 1.000 0.800 0.600 0.400 0.200 0.000]
}
