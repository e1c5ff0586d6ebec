package autograd

import (
	"fmt"

	"github.com/kiln-ml/kiln/tensor"
)

// Tape is the arena that owns the results and gradients of operations
// recorded on it. Its zero value is not usable; call NewTape. A Tape must not
// be used by two goroutines at once.
type Tape struct {
	noGrad bool
	pool   tensor.Pool
	owned  [][]float32
	slab   [][]Var // Vars handed out since the last Reset, in chunks
	nvars  int
	order  []*Var // scratch for Backward
	stack  []*Var
}

// TapeOption configures a Tape.
type TapeOption func(*Tape)

// WithoutGrad makes a tape that records no backward functions: operations on
// it compute values only. Use it for evaluation and generation.
func WithoutGrad() TapeOption { return func(t *Tape) { t.noGrad = true } }

// NewTape returns an empty tape.
func NewTape(opts ...TapeOption) *Tape {
	t := &Tape{}
	for _, o := range opts {
		o(t)
	}
	return t
}

// Recording reports whether operations on the tape record gradients.
func (t *Tape) Recording() bool { return t == nil || !t.noGrad }

// Reset releases every buffer and Var handed out since the last Reset. Vars
// made on the tape, their values and gradients, must not be used afterwards;
// Detach or Clone what you want to keep.
func (t *Tape) Reset() {
	for i, s := range t.owned {
		t.pool.Put(s)
		t.owned[i] = nil
	}
	t.owned = t.owned[:0]
	for c := range t.slab {
		n := min(len(t.slab[c]), t.nvars-c*slabChunk)
		if n <= 0 {
			break
		}
		clear(t.slab[c][:n])
	}
	t.nvars = 0
}

// HeldBytes returns the bytes of storage the tape's arena keeps for reuse.
func (t *Tape) HeldBytes() int64 { return t.pool.Held() }

// alloc returns a contiguous tensor with unspecified contents owned by the
// tape (heap-allocated when t is nil).
func (t *Tape) alloc(shape ...int) *tensor.Tensor {
	if t == nil {
		return tensor.New(shape...)
	}
	x := t.pool.Get(shape...)
	t.owned = append(t.owned, x.Storage())
	return x
}

// allocZeroed is alloc with zeroed contents.
func (t *Tape) allocZeroed(shape ...int) *tensor.Tensor {
	x := t.alloc(shape...)
	if t != nil {
		clear(x.Storage())
	}
	return x
}

// Scratch returns a float32 slice of length n owned by the tape, for
// operations defined outside this package. Contents are unspecified.
func (t *Tape) Scratch(n int) []float32 {
	return t.alloc(n).Storage()
}

const slabChunk = 256

func (t *Tape) newVar() *Var {
	if t == nil {
		return new(Var)
	}
	c, i := t.nvars/slabChunk, t.nvars%slabChunk
	if c == len(t.slab) {
		t.slab = append(t.slab, make([]Var, slabChunk))
	}
	t.nvars++
	v := &t.slab[c][i]
	v.tape = t
	return v
}

// Const returns a constant (no gradient) leaf on the tape that uses x as
// its value without copying.
func (t *Tape) Const(x *tensor.Tensor) *Var {
	v := t.newVar()
	v.value = x
	v.leaf = true
	return v
}

// tapeOf returns the tape shared by the inputs (nil if none has one) and
// panics if they come from different tapes.
func tapeOf(op string, vs ...*Var) *Tape {
	var t *Tape
	for _, v := range vs {
		if v == nil {
			continue
		}
		if v.tape != nil {
			if t != nil && v.tape != t {
				panic(fmt.Sprintf("autograd.%s: inputs were recorded on different tapes", op))
			}
			t = v.tape
		}
	}
	return t
}
