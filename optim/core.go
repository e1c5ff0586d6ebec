package optim

import (
	"sync"

	"github.com/kiln-ml/kiln/kernels"
)

// Core is the per-tensor part of an optimizer: the rule that turns a
// gradient and the tensor's own state into an update. The optimizers of this
// package apply a core to every parameter; a projecting optimizer (GaLore,
// Fira) applies one to a low-rank image of the gradient, with state of the
// low-rank shape, and maps the result back itself.
type Core interface {
	// Slots names the per-element state buffers the core keeps, in the
	// order of TensorState.Buf (PyTorch's names, e.g. "exp_avg").
	Slots() []string
	// Update applies one step to p in place, given its gradient g (same
	// length), learning rate lr and weight decay wd, in the core's own
	// convention for decay. It advances s.Step.
	Update(p, g []float32, s *TensorState, lr, wd float64)
	// Direction advances s with the gradient g and writes into d a
	// direction N such that the core's update without weight decay is
	// p -= lr*scale*N. It is meant for tensors that are not parameters
	// (projected gradients), so it never decays. d may be g.
	Direction(d, g []float32, s *TensorState) (scale float64)
}

// TensorState is the optimizer state of one tensor.
type TensorState struct {
	// Step counts the updates applied to the tensor. It advances only when
	// the tensor has a gradient, so it can differ between tensors.
	Step int64
	// Buf holds one buffer per slot the core names, each as long as the
	// tensor.
	Buf [][]float32
}

// NewTensorState returns zeroed state of core c for a tensor of n elements.
func NewTensorState(c Core, n int) TensorState {
	slots := c.Slots()
	s := TensorState{Buf: make([][]float32, len(slots))}
	for i := range slots {
		s.Buf[i] = make([]float32, n)
	}
	return s
}

// Bytes returns the memory the state holds.
func (s *TensorState) Bytes() int64 {
	n := int64(8) // the step counter
	for _, b := range s.Buf {
		n += 4 * int64(len(b))
	}
	return n
}

// grain is the block size of the package's own elementwise loops: the
// same as the kernels' update grain, and fixed, so that results never
// depend on the number of threads.
const grain = 16384

// loop is elementwise work over one tensor, split over the kernel threads.
// Loops are pooled and keep their bound run function, so starting one does
// not allocate.
type loop struct {
	body    func(l *loop, lo, hi int)
	p, g    []float32
	a, b, c []float32
	k       [10]float32
	out     []float64 // one result per block, for reductions
	run     func(lo, hi int)
}

var loops = sync.Pool{New: func() any {
	l := new(loop)
	l.run = func(lo, hi int) { l.body(l, lo, hi) }
	return l
}}

// newLoop returns a pooled loop that runs body.
func newLoop(body func(l *loop, lo, hi int)) *loop {
	l := loops.Get().(*loop)
	l.body = body
	return l
}

// do runs the loop over [0, n) and returns it to the pool.
func (l *loop) do(n int) {
	if n < 2*grain {
		l.body(l, 0, n)
	} else {
		kernels.Parallel(n, grain, l.run)
	}
	run := l.run
	*l = loop{run: run}
	loops.Put(l)
}
