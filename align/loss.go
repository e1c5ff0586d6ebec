package align

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/kiln-ml/kiln/autograd"
)

// Loss is a preference loss: a differentiable function of sequence
// log-probabilities.
type Loss interface {
	// Name is the name the loss is registered under.
	Name() string
	// Compute returns the batch loss (a scalar) and, when m is not nil,
	// writes the step's metrics into m, "loss" among them. It panics if in
	// lacks what the loss needs (a programmer error).
	Compute(in *Inputs, m Metrics) *autograd.Var
}

// Stateful is a loss with state carried across steps (BCO's reward shift).
// Save the state with checkpoints so that a resumed run continues the same
// curve.
type Stateful interface {
	Loss
	State() map[string]float64
	SetState(map[string]float64) error
}

// Kind is the shape of data a loss trains on.
type Kind int

const (
	// PairedData is B preference pairs as 2B rows: B chosen, then B rejected.
	PairedData Kind = iota
	// UnpairedData is B labelled completions (KTO, BCO).
	UnpairedData
	// ForgetData is B completions to unlearn, and optionally a retain batch (NPO).
	ForgetData
	// ListwiseData is lists of scored completions (LiPO, ListMLE).
	ListwiseData
)

// String names the kind.
func (k Kind) String() string {
	switch k {
	case PairedData:
		return "paired"
	case UnpairedData:
		return "unpaired"
	case ForgetData:
		return "forget"
	case ListwiseData:
		return "listwise"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Inputs is what a loss sees of one batch. Rows are laid out as in Batch:
// for PairedData, rows [0, B) are the chosen and [B, 2B) the rejected
// completions.
type Inputs struct {
	// Tape draws the constants a loss makes: the tape Logps was recorded
	// on, or nil to draw them from the heap.
	Tape *autograd.Tape
	// Logps holds the policy's sequence log-probabilities (sums over
	// completion tokens), one per row, shape [N].
	Logps *autograd.Var
	// Ref holds the reference model's sequence log-probabilities, [N]; nil
	// for reference-free losses (and for reference-free use of any loss,
	// which sets the reference to 0).
	Ref []float32
	// Lengths holds the completion tokens scored in each row, [N].
	Lengths []int
	// Desirable holds the labels of UnpairedData rows, [N].
	Desirable []bool
	// KL holds, for KTO, the policy-minus-reference log-ratios of the
	// mismatched completions (Batch.FillMismatched), computed without
	// gradient; their mean, floored at 0, is KTO's reference point.
	KL []float32
	// Scores holds the labels of ListwiseData rows, higher is better, [N], and
	// ListSizes the number of consecutive rows of each list.
	Scores    []float32
	ListSizes []int
	// RetainLogps and RetainLengths are the retain batch of NPO+RT.
	RetainLogps   *autograd.Var
	RetainLengths []int
	// Eval marks an evaluation step: stateful losses do not update state.
	Eval bool
}

// Option is a hyperparameter of a registered loss.
type Option struct {
	Name    string
	Default float64
	Doc     string
}

// Options maps hyperparameter names to values. Flags (e.g. BCO-pair's
// running_delta) are 0 or 1.
type Options map[string]float64

// Spec describes a registered loss.
type Spec struct {
	Name      string
	Doc       string // one line, with the paper it comes from
	Kind      Kind
	Reference bool     // whether it needs reference log-probabilities
	Options   []Option // hyperparameters with their defaults
	// New builds the loss from options that hold every declared option.
	New func(o Options) (Loss, error)
}

var registry = map[string]Spec{}

// Register adds a loss to the registry. It panics if the name is taken.
func Register(s Spec) {
	if _, dup := registry[s.Name]; dup {
		panic(fmt.Sprintf("align.Register: loss %q is registered twice", s.Name))
	}
	registry[s.Name] = s
}

// Lookup returns the spec of a registered loss.
func Lookup(name string) (Spec, bool) {
	s, ok := registry[name]
	return s, ok
}

// Names returns the names of the registered losses, sorted.
func Names() []string { return slices.Sorted(maps.Keys(registry)) }

// New returns the registered loss name with options o over its defaults.
// It fails for an unknown loss, an option the loss does not take, or a
// value out of range.
func New(name string, o Options) (Loss, error) {
	s, ok := registry[name]
	if !ok {
		return nil, fmt.Errorf("align: unknown loss %q; known: %s", name, strings.Join(Names(), ", "))
	}
	full := Options{}
	for _, opt := range s.Options {
		full[opt.Name] = opt.Default
	}
	for k, v := range o {
		if _, ok := full[k]; !ok {
			return nil, fmt.Errorf("align: loss %s has no option %q; it takes %s", name, k, s.optionNames())
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("align: loss %s: option %s = %v is not finite", name, k, v)
		}
		full[k] = v
	}
	l, err := s.New(full)
	if err != nil {
		return nil, fmt.Errorf("align: loss %s: %w", name, err)
	}
	return l, nil
}

func (s Spec) optionNames() string {
	if len(s.Options) == 0 {
		return "none"
	}
	names := make([]string, len(s.Options))
	for i, o := range s.Options {
		names[i] = o.Name
	}
	return strings.Join(names, ", ")
}

// ParseOptions reads "name=value,name=value" (as a command line gives it).
func ParseOptions(s string) (Options, error) {
	o := Options{}
	for _, kv := range strings.Split(s, ",") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("align: option %q: want name=value", kv)
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return nil, fmt.Errorf("align: option %q: value is not a number", kv)
		}
		o[strings.TrimSpace(k)] = f
	}
	return o, nil
}

// Combine returns the weighted sum of losses of the same kind, TRL's
// loss_type list with loss_weights (e.g. MPO: sigmoid, bco_pair, sft with
// weights 0.8, 0.2, 1). Each term's value is logged as "loss/NAME"; the
// other metrics come from the terms, later terms overwriting earlier ones.
func Combine(losses []Loss, weights []float64) (Loss, error) {
	if len(losses) == 0 {
		return nil, fmt.Errorf("align.Combine: no losses")
	}
	if weights == nil {
		weights = slices.Repeat([]float64{1}, len(losses))
	}
	if len(weights) != len(losses) {
		return nil, fmt.Errorf("align.Combine: %d weights for %d losses", len(weights), len(losses))
	}
	names := make([]string, len(losses))
	var kind Kind
	for i, l := range losses {
		names[i] = l.Name()
		s, ok := registry[l.Name()]
		if !ok {
			continue
		}
		if i > 0 && s.Kind != kind {
			return nil, fmt.Errorf("align.Combine: %s takes %s data, %s takes %s", names[0], kind, names[i], s.Kind)
		}
		kind = s.Kind
	}
	return &combined{name: strings.Join(names, "+"), losses: losses, weights: weights}, nil
}

type combined struct {
	name    string
	losses  []Loss
	weights []float64
}

func (c *combined) Name() string { return c.name }

func (c *combined) Compute(in *Inputs, m Metrics) *autograd.Var {
	var total *autograd.Var
	for i, l := range c.losses {
		v := l.Compute(in, m)
		m.set("loss/"+l.Name(), float64(v.Item()))
		v = autograd.Scale(v, float32(c.weights[i]))
		if total == nil {
			total = v
		} else {
			total = autograd.Add(total, v)
		}
	}
	m.set("loss", float64(total.Item()))
	return total
}

// State returns the state of the stateful terms, keyed "NAME/key".
func (c *combined) State() map[string]float64 {
	s := map[string]float64{}
	for _, l := range c.losses {
		if st, ok := l.(Stateful); ok {
			for k, v := range st.State() {
				s[l.Name()+"/"+k] = v
			}
		}
	}
	return s
}

// SetState restores what State returned.
func (c *combined) SetState(s map[string]float64) error {
	for _, l := range c.losses {
		st, ok := l.(Stateful)
		if !ok {
			continue
		}
		sub := map[string]float64{}
		for k, v := range s {
			if rest, ok := strings.CutPrefix(k, l.Name()+"/"); ok {
				sub[rest] = v
			}
		}
		if err := st.SetState(sub); err != nil {
			return fmt.Errorf("align: %s: %w", l.Name(), err)
		}
	}
	return nil
}

// hasOption reports whether the loss takes the named option.
func (s Spec) hasOption(name string) bool {
	for _, o := range s.Options {
		if o.Name == name {
			return true
		}
	}
	return false
}
