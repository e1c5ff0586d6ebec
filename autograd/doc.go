// Package autograd is kiln's reverse-mode automatic differentiation: an
// eager, define-by-run graph of Vars. Every operation computes its result at
// once with kiln's kernels and, when an input needs a gradient, records a
// hand-written backward function; Backward walks the graph in reverse
// topological order and accumulates gradients.
//
//	w := autograd.Param(tensor.Randn(rng, 3, 4))
//	x := autograd.Const(tensor.FromSlice([]float32{1, 2, 3, 4, 5, 6}, 2, 3))
//	y := autograd.Sum(autograd.Tanh(autograd.MatMul(x, w)))
//	y.Backward()
//	_ = w.Grad() // same shape as w
//
// Memory: results and gradients of operations are drawn from a Tape, an arena
// that hands the same buffers out again after Reset, so a training step that
// repeats its shapes allocates (close to) nothing. Parameters own their value
// and gradient for their whole life. Operations whose inputs carry no tape
// (only parameters and constants made with Const) allocate on the heap.
//
//	tape := autograd.NewTape()
//	for step := range steps {
//		loss := model.Loss(tape, x, y)
//		loss.Backward()
//		opt.Step()
//		opt.ZeroGrad()
//		tape.Reset() // every Var made on the tape is now invalid
//	}
//
// A tape made with NewTape(WithoutGrad()) records nothing: use it for
// evaluation and generation.
package autograd
