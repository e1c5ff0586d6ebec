package optim

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/kiln-ml/kiln/autograd"
	"github.com/kiln-ml/kiln/tensor"
)

// Optimizer updates parameters from their gradients.
type Optimizer interface {
	// Step updates every parameter that has a gradient (Grad not nil);
	// the others, and their step counts, stay as they are. A zero gradient
	// is a gradient: it still advances the moments.
	Step() error
	// ZeroGrad forgets the gradients of all parameters.
	ZeroGrad()
	// LR returns the base learning rate.
	LR() float64
	// SetLR sets the base learning rate, to which each group's multiplier
	// applies; a schedule calls it before every Step. It panics on a
	// negative or non-finite rate.
	SetLR(lr float64)
	// Params returns the parameters, in the order the optimizer was given
	// (a new slice each call).
	Params() []*autograd.Var
	// Groups describes the parameter groups.
	Groups() []GroupInfo
	// State returns a copy of the optimizer's state for a checkpoint.
	State() *StateDict
	// LoadState replaces the state with s, which must come from an
	// optimizer of the same kind over parameters of the same names and
	// shapes. On error nothing changes.
	LoadState(s *StateDict) error
	// StateBytes returns the memory the optimizer's state holds.
	StateBytes() int64
}

// slot is one parameter and its state.
type slot struct {
	v     *autograd.Var
	key   string // name in groups and state dicts
	group int
	st    TensorState
}

// base is what every optimizer of the package shares: parameters, groups,
// the learning rate, per-tensor state and its export.
type base struct {
	kind   string
	lr     float64
	slots  []slot
	groups []group
	vars   []*autograd.Var
	names  []string // state slot names of every tensor
}

// newBase checks params, resolves the groups and allocates state buffers
// named names for every parameter.
func newBase(kind string, params []*autograd.Var, lr, wd float64, specs []Group, names []string) (base, error) {
	if len(params) == 0 {
		return base{}, fmt.Errorf("no parameters to optimize")
	}
	keys := make([]string, len(params))
	seen := make(map[string]int, len(params))
	seenVar := make(map[*autograd.Var]int, len(params))
	for i, p := range params {
		if p == nil {
			return base{}, fmt.Errorf("parameter %d is nil", i)
		}
		if j, dup := seenVar[p]; dup {
			return base{}, fmt.Errorf("parameter %d (%q) is the same Var as parameter %d", i, p.Name(), j)
		}
		seenVar[p] = i
		if !p.Value().IsContiguous() {
			return base{}, fmt.Errorf("parameter %d (%q) of shape %v is a non-contiguous view; optimizers update contiguous storage", i, p.Name(), p.Shape())
		}
		keys[i] = p.Name()
		if keys[i] == "" {
			keys[i] = strconv.Itoa(i)
		}
		if j, dup := seen[keys[i]]; dup {
			return base{}, fmt.Errorf("parameters %d and %d are both called %q; state is kept by name, so names must be unique", j, i, keys[i])
		}
		seen[keys[i]] = i
	}
	groups, assign, err := resolveGroups(params, keys, wd, specs)
	if err != nil {
		return base{}, err
	}
	b := base{kind: kind, lr: lr, groups: groups, vars: slices.Clone(params), names: names}
	b.slots = make([]slot, len(params))
	for i, p := range params {
		st := TensorState{Buf: make([][]float32, len(names))}
		for k := range names {
			st.Buf[k] = make([]float32, p.Value().Size())
		}
		b.slots[i] = slot{v: p, key: keys[i], group: assign[i], st: st}
	}
	return b, nil
}

// ZeroGrad forgets the gradients of all parameters.
func (b *base) ZeroGrad() {
	for _, v := range b.vars {
		v.ZeroGrad()
	}
}

// LR returns the base learning rate.
func (b *base) LR() float64 { return b.lr }

// SetLR sets the base learning rate.
func (b *base) SetLR(lr float64) {
	if !finite(lr) || lr < 0 {
		panic(fmt.Sprintf("optim.SetLR: learning rate %v must be finite and at least 0", lr))
	}
	b.lr = lr
}

// Params returns the parameters in the order the optimizer was given.
func (b *base) Params() []*autograd.Var { return slices.Clone(b.vars) }

// Groups describes the parameter groups.
func (b *base) Groups() []GroupInfo {
	out := make([]GroupInfo, len(b.groups))
	for i, g := range b.groups {
		out[i] = GroupInfo{Name: g.name, LRScale: g.lrScale, WeightDecay: g.weightDecay}
	}
	for _, s := range b.slots {
		out[s.group].Params = append(out[s.group].Params, s.key)
	}
	return out
}

// StateBytes returns the memory the per-tensor state holds.
func (b *base) StateBytes() int64 {
	var n int64
	for i := range b.slots {
		n += b.slots[i].st.Bytes()
	}
	return n
}

// gradOf returns the gradient of slot s as a flat slice, or nil if it has
// none. A gradient of another size is a programmer error.
func (s *slot) gradOf() []float32 {
	g := s.v.Grad()
	if g == nil {
		return nil
	}
	if g.Size() != s.v.Value().Size() {
		panic(fmt.Sprintf("optim.Step: gradient of shape %v for parameter %q of shape %v", g.Shape(), s.key, s.v.Shape()))
	}
	return contiguousData(g)
}

// contiguousData returns t's elements; gradients are contiguous, but a
// strided one is copied rather than rejected.
func contiguousData(t *tensor.Tensor) []float32 {
	if t.IsContiguous() {
		return t.Data()
	}
	return t.Contiguous().Data()
}

// coreOptimizer applies a Core to every parameter.
type coreOptimizer struct {
	base
	core Core
}

func newCoreOptimizer(kind string, params []*autograd.Var, core Core, lr, wd float64, specs []Group) (coreOptimizer, error) {
	b, err := newBase(kind, params, lr, wd, specs, core.Slots())
	if err != nil {
		return coreOptimizer{}, err
	}
	return coreOptimizer{base: b, core: core}, nil
}

// Step updates every parameter that has a gradient.
func (o *coreOptimizer) Step() error {
	for i := range o.slots {
		s := &o.slots[i]
		g := s.gradOf()
		if g == nil {
			continue
		}
		grp := &o.groups[s.group]
		o.core.Update(s.v.Value().Data(), g, &s.st, o.lr*grp.lrScale, grp.weightDecay)
	}
	return nil
}

// Core returns the per-tensor rule the optimizer applies.
func (o *coreOptimizer) Core() Core { return o.core }

// isNonFinite reports whether a float32 is NaN or ±Inf.
func isNonFinite(x float32) bool { return math.Float32bits(x)&0x7f800000 == 0x7f800000 }
