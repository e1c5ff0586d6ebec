package optim

import (
	"errors"
	"fmt"
	"math"
)

// Schedule gives the factor by which the peak learning rate is multiplied at
// a step. Schedules are pure functions of the step, so a checkpoint needs to
// keep nothing but the step. Steps count from 0 for the first optimizer step,
// as PyTorch and transformers count them: a warm-up gives factor 0 on the
// first step.
type Schedule interface {
	// Factor returns the multiplier at step (≥ 0).
	Factor(step int) float64
}

// checkStep panics on a negative step.
func checkStep(step int) {
	if step < 0 {
		panic(fmt.Sprintf("optim.Schedule.Factor: step %d is negative", step))
	}
}

// ramp is the linear warm-up t/W of transformers and GaLore.
func ramp(step, warmup int) float64 { return float64(step) / float64(max(1, warmup)) }

// Constant is a constant factor 1 after an optional linear warm-up of
// Warmup steps (factor step/Warmup).
type Constant struct {
	Warmup int
}

// Factor returns the multiplier at step.
func (s Constant) Factor(step int) float64 {
	checkStep(step)
	if step < s.Warmup {
		return ramp(step, s.Warmup)
	}
	return 1
}

// Validate reports a negative warm-up.
func (s Constant) Validate() error { return checkWarmup(s.Warmup, -1) }

// Cosine is a linear warm-up over Warmup steps, then a half cosine from 1
// down to Floor at step Total, and Floor after it. With Floor 0.1 it is the
// schedule of GaLore's training_utils, behind the GaLore, Fira and Natural
// GaLore numbers; with Floor 0 it is transformers' cosine schedule.
type Cosine struct {
	Warmup, Total int
	Floor         float64 // final factor in [0, 1]
}

// Factor returns the multiplier at step.
func (s Cosine) Factor(step int) float64 {
	checkStep(step)
	if step < s.Warmup {
		return ramp(step, s.Warmup)
	}
	p := min(1, float64(step-s.Warmup)/float64(max(1, s.Total-s.Warmup)))
	return s.Floor + (1-s.Floor)*0.5*(1+math.Cos(math.Pi*p))
}

// Validate reports settings out of range.
func (s Cosine) Validate() error {
	return errors.Join(checkTotal(s.Total), checkWarmup(s.Warmup, s.Total), checkFloor(s.Floor))
}

// LinearDecay is a linear warm-up over Warmup steps, then a linear decay from
// 1 to Floor at step Total, and Floor after it. With Floor 0 it is
// transformers' get_linear_schedule_with_warmup, and without warm-up the
// schedule "When, Why and How Much? Adaptive Learning Rate Scheduling by
// Refinement" shows to be worst-case optimal for the last iterate.
type LinearDecay struct {
	Warmup, Total int
	Floor         float64 // final factor in [0, 1]
}

// Factor returns the multiplier at step.
func (s LinearDecay) Factor(step int) float64 {
	checkStep(step)
	if step < s.Warmup {
		return ramp(step, s.Warmup)
	}
	left := max(0, float64(s.Total-step)/float64(max(1, s.Total-s.Warmup)))
	return s.Floor + (1-s.Floor)*left
}

// Validate reports settings out of range.
func (s LinearDecay) Validate() error {
	return errors.Join(checkTotal(s.Total), checkWarmup(s.Warmup, s.Total), checkFloor(s.Floor))
}

// Cooldown is the shape of the final decay of a WSD schedule, as a function
// of the fraction x of the decay done.
type Cooldown int

// Shapes of the final decay.
const (
	CooldownLinear Cooldown = iota // 1 − x
	CooldownCosine                 // ½(1 + cos πx)
	CooldownSqrt                   // 1 − √x
)

// String returns the shape's name.
func (c Cooldown) String() string {
	switch c {
	case CooldownLinear:
		return "linear"
	case CooldownCosine:
		return "cosine"
	case CooldownSqrt:
		return "sqrt"
	}
	return fmt.Sprintf("Cooldown(%d)", int(c))
}

// WSD (warmup-stable-decay) is a linear warm-up over Warmup steps, factor 1
// until step Total−Decay, then a decay to Floor at step Total, and Floor
// after it.
type WSD struct {
	Warmup, Total, Decay int
	Shape                Cooldown
	Floor                float64 // final factor in [0, 1]
}

// Factor returns the multiplier at step.
func (s WSD) Factor(step int) float64 {
	checkStep(step)
	if step < s.Warmup {
		return ramp(step, s.Warmup)
	}
	start := s.Total - s.Decay
	if step < start {
		return 1
	}
	if step >= s.Total {
		return s.Floor
	}
	x := float64(step-start) / float64(s.Decay)
	var f float64
	switch s.Shape {
	case CooldownCosine:
		f = 0.5 * (1 + math.Cos(math.Pi*x))
	case CooldownSqrt:
		f = 1 - math.Sqrt(x)
	default:
		f = float64(s.Total-step) / float64(s.Decay)
	}
	return s.Floor + (1-s.Floor)*f
}

// Validate reports settings out of range.
func (s WSD) Validate() error {
	var errs []error
	errs = append(errs, checkTotal(s.Total), checkWarmup(s.Warmup, s.Total), checkFloor(s.Floor))
	if s.Decay < 0 || s.Warmup+s.Decay > s.Total {
		errs = append(errs, fmt.Errorf("decay steps %d must be in [0, total−warmup] = [0, %d]", s.Decay, s.Total-s.Warmup))
	}
	if s.Shape < CooldownLinear || s.Shape > CooldownSqrt {
		errs = append(errs, fmt.Errorf("unknown cooldown shape %d (want CooldownLinear, CooldownCosine or CooldownSqrt)", int(s.Shape)))
	}
	return errors.Join(errs...)
}

// NewConstant returns a constant schedule after warmup steps of linear warm-up.
func NewConstant(warmup int) (Schedule, error) {
	return validated("constant", Constant{Warmup: warmup})
}

// NewCosine returns a Cosine schedule after checking its settings.
func NewCosine(total, warmup int, floor float64) (Schedule, error) {
	return validated("cosine", Cosine{Warmup: warmup, Total: total, Floor: floor})
}

// NewLinearDecay returns a LinearDecay schedule after checking its settings.
func NewLinearDecay(total, warmup int, floor float64) (Schedule, error) {
	return validated("linear", LinearDecay{Warmup: warmup, Total: total, Floor: floor})
}

// NewWSD returns a WSD schedule after checking its settings.
func NewWSD(total, warmup, decay int, shape Cooldown, floor float64) (Schedule, error) {
	return validated("wsd", WSD{Warmup: warmup, Total: total, Decay: decay, Shape: shape, Floor: floor})
}

type validator interface {
	Schedule
	Validate() error
}

func validated(name string, s validator) (Schedule, error) {
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("optim: invalid %s schedule: %w", name, err)
	}
	return s, nil
}

func checkTotal(total int) error {
	if total < 1 {
		return fmt.Errorf("total steps %d must be at least 1", total)
	}
	return nil
}

// checkWarmup checks warm-up steps; total < 0 means no upper bound.
func checkWarmup(warmup, total int) error {
	if warmup < 0 || (total >= 0 && warmup > total) {
		if total < 0 {
			return fmt.Errorf("warm-up steps %d must not be negative", warmup)
		}
		return fmt.Errorf("warm-up steps %d must be in [0, total steps %d]", warmup, total)
	}
	return nil
}

func checkFloor(floor float64) error {
	if !(floor >= 0 && floor <= 1) {
		return fmt.Errorf("floor %v must be in [0, 1]", floor)
	}
	return nil
}

// Then returns the schedule that follows first for steps steps and then
// next, restarted: step t ≥ steps gets next.Factor(t − steps).
func Then(first Schedule, steps int, next Schedule) Schedule {
	if steps < 0 {
		panic(fmt.Sprintf("optim.Then: %d steps is negative", steps))
	}
	return then{first, steps, next}
}

type then struct {
	first Schedule
	steps int
	next  Schedule
}

func (s then) Factor(step int) float64 {
	checkStep(step)
	if step < s.steps {
		return s.first.Factor(step)
	}
	return s.next.Factor(step - s.steps)
}

// Product returns the schedule whose factor is the product of the factors
// of ss, e.g. a warm-up (Constant{Warmup: w}) laid over a refined schedule.
func Product(ss ...Schedule) Schedule { return product(ss) }

type product []Schedule

func (p product) Factor(step int) float64 {
	f := 1.0
	for _, s := range p {
		f *= s.Factor(step)
	}
	return f
}

// ScheduleOptions holds the settings ParseSchedule passes to the schedules
// that need more than a length and a warm-up.
type ScheduleOptions struct {
	Floor      float64   // cosine, linear, wsd: final factor in [0, 1] (default 0)
	DecaySteps int       // wsd: length of the final decay (default total/5)
	Cooldown   Cooldown  // wsd: shape of the final decay (default linear)
	Norms      []float64 // refined: one gradient norm per step of a previous run (required)
	NormPower  float64   // refined: 2 for SGD-type optimizers and ℓ2 norms, 1 for Adam- and sign-type ones and ℓ1 norms (default 1)
	Smooth     bool      // refined: median-filter the norms first, as the reference does
}

// ScheduleNames lists the names ParseSchedule accepts.
func ScheduleNames() []string { return []string{"constant", "cosine", "linear", "wsd", "refined"} }

// ParseSchedule returns the schedule called name (one of ScheduleNames) for
// a run of total steps with warmup steps of linear warm-up. A refined
// schedule brings its own warm-up; a positive warmup multiplies it by a
// linear ramp as well.
func ParseSchedule(name string, total, warmup int, opts ScheduleOptions) (Schedule, error) {
	switch name {
	case "constant":
		return NewConstant(warmup)
	case "cosine":
		return NewCosine(total, warmup, opts.Floor)
	case "linear":
		return NewLinearDecay(total, warmup, opts.Floor)
	case "wsd":
		decay := opts.DecaySteps
		if decay == 0 {
			decay = min(total/5, max(0, total-warmup))
		}
		return NewWSD(total, warmup, decay, opts.Cooldown, opts.Floor)
	case "refined":
		if err := checkWarmup(warmup, total); err != nil {
			return nil, fmt.Errorf("optim: invalid refined schedule: %w", err)
		}
		r, err := NewRefined(opts.Norms, RefinedConfig{Power: opts.NormPower, Total: total, Smooth: opts.Smooth})
		if err != nil {
			return nil, err
		}
		if warmup > 0 {
			return Product(Constant{Warmup: warmup}, r), nil
		}
		return r, nil
	}
	return nil, fmt.Errorf("optim: unknown schedule %q (want one of constant, cosine, linear, wsd, refined)", name)
}
