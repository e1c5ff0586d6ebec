package bench

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// FormatVersion is the version of the benchmark's protocol and result
// format; it is part of every run's key, so results of another version are
// never reused.
const FormatVersion = 1

// RunSpec names one run: a task, an optimizer, a schedule, a peak learning
// rate (0 for AutoLRS, which chooses its own) and a seed.
type RunSpec struct {
	Task      string  `json:"task"`
	Optimizer string  `json:"optimizer"`
	Schedule  string  `json:"schedule"`
	LR        float64 `json:"lr"`
	Seed      uint64  `json:"seed"`
}

// String returns a compact description such as "gpt adamw cosine lr=0.004 seed=1".
func (s RunSpec) String() string {
	lr := "auto"
	if s.LR > 0 {
		lr = strconv.FormatFloat(s.LR, 'g', -1, 64)
	}
	return fmt.Sprintf("%s %s %s lr=%s seed=%d", s.Task, s.Optimizer, s.Schedule, lr, s.Seed)
}

// ScheduleSettings are the settings of a run's learning-rate schedule; they
// are part of the run's key.
type ScheduleSettings struct {
	Name   string  `json:"name"`
	Warmup int     `json:"warmup,omitempty"`
	Floor  float64 `json:"floor,omitempty"`
	// Refined: the key of the linear-decay run whose gradient norms shape
	// the schedule, and the norm's power.
	From  string  `json:"from,omitempty"`
	Power float64 `json:"power,omitempty"`
	// AutoLRS: the search bounds, the warm-up's rate and the stages.
	MinLR      float64 `json:"min_lr,omitempty"`
	MaxLR      float64 `json:"max_lr,omitempty"`
	WarmupLR   float64 `json:"warmup_lr,omitempty"`
	Probes     int     `json:"probes,omitempty"`
	StageSteps int     `json:"stage_steps,omitempty"`
	ProbeSteps int     `json:"probe_steps,omitempty"`
}

// Settings is everything that determines a run's numbers; its hash is the
// run's key.
type Settings struct {
	Version   int               `json:"version"`
	Numerics  string            `json:"numerics"` // see Numerics
	Spec      RunSpec           `json:"spec"`
	Task      map[string]any    `json:"task"`
	Budget    Budget            `json:"budget"`
	Optimizer OptimizerSettings `json:"optimizer"`
	Schedule  ScheduleSettings  `json:"schedule"`
}

// ValPoint is one validation of a run.
type ValPoint struct {
	Step    int     `json:"step"`
	Loss    Float   `json:"loss"`
	Seconds float64 `json:"seconds"` // training time before it (validation excluded)
}

// Stage is one AutoLRS stage: the rate it chose and the steps it ended at.
type Stage struct {
	LR      float64   `json:"lr"`
	EndStep int       `json:"end_step"`
	Probes  []float64 `json:"probe_lrs"`
}

// Result is a finished run: its settings, its curves and its summary
// numbers. Every number but the timings and heap sizes is a deterministic
// function of the settings.
type Result struct {
	Key      string   `json:"key"`
	Settings Settings `json:"settings"`

	Steps        int  `json:"steps"`         // steps run (the budget, unless diverged)
	Diverged     bool `json:"diverged"`      // the loss or a gradient became non-finite
	DivergedStep int  `json:"diverged_step"` // the step it happened at (0 if never)

	FinalTrain Float `json:"final_train"` // mean training loss over the last 10% of steps
	FinalVal   Float `json:"final_val"`   // validation loss at the end (+Inf if diverged)

	StateBytes    int64   `json:"state_bytes"`     // optimizer state at the end of the run
	PeakHeapBytes int64   `json:"peak_heap_bytes"` // peak heap in use during the run, above the heap before it
	LiveHeapBytes int64   `json:"live_heap_bytes"` // peak live heap (after collections) during the run, above the heap before it
	StepSeconds   float64 `json:"step_seconds"`    // median wall time of a training step
	TrainSeconds  float64 `json:"train_seconds"`   // wall time of all training steps (validation excluded)

	// Per-step curves, index i for step i+1.
	Loss       Floats     `json:"loss"`
	LR         []float64  `json:"lr"`
	GradNorm   Floats     `json:"grad_norm"`
	GradNormL1 Floats     `json:"grad_norm_l1"`
	Seconds    []float64  `json:"seconds"` // cumulative training time after the step
	Val        []ValPoint `json:"val"`
	Stages     []Stage    `json:"stages,omitempty"` // AutoLRS

	Threads int    `json:"threads"` // kernel threads (not part of the key)
	Kernels string `json:"kernels"` // kernel path
}

// Spec returns the run's spec.
func (r *Result) Spec() RunSpec { return r.Settings.Spec }

// ValAt returns the validation loss at step (NaN if the run did not
// validate there).
func (r *Result) ValAt(step int) float64 {
	for _, v := range r.Val {
		if v.Step == step {
			return float64(v.Loss)
		}
	}
	return math.NaN()
}

// Float is a float64 that survives JSON when not finite: NaN and ±Inf are
// written as the strings "NaN", "+Inf" and "-Inf". Finite values round-trip
// bit for bit.
type Float float64

// MarshalJSON writes f, or a string for NaN and ±Inf.
func (f Float) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsNaN(v):
		return []byte(`"NaN"`), nil
	case math.IsInf(v, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Inf"`), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64), nil
}

// UnmarshalJSON reads what MarshalJSON writes.
func (f *Float) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		switch s {
		case "NaN":
			*f = Float(math.NaN())
		case "+Inf", "Inf":
			*f = Float(math.Inf(1))
		case "-Inf":
			*f = Float(math.Inf(-1))
		default:
			return fmt.Errorf("bench: %q is not a number (want a number, \"NaN\", \"+Inf\" or \"-Inf\")", s)
		}
		return nil
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("bench: %s is not a number", b)
	}
	*f = Float(v)
	return nil
}

// Floats is a []float64 whose elements may be NaN or ±Inf in JSON (see Float).
type Floats []float64

// MarshalJSON writes the elements as Float does.
func (fs Floats) MarshalJSON() ([]byte, error) {
	if fs == nil {
		return []byte("null"), nil
	}
	out := []byte{'['}
	for i, v := range fs {
		if i > 0 {
			out = append(out, ',')
		}
		b, _ := Float(v).MarshalJSON()
		out = append(out, b...)
	}
	return append(out, ']'), nil
}

// UnmarshalJSON reads what MarshalJSON writes.
func (fs *Floats) UnmarshalJSON(b []byte) error {
	var raw []Float
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	if raw == nil {
		*fs = nil
		return nil
	}
	out := make([]float64, len(raw))
	for i, v := range raw {
		out[i] = float64(v)
	}
	*fs = out
	return nil
}
