package bench

import (
	"encoding/json"
	"math"
	"slices"
	"sort"
)

// Stat is a mean and a sample standard deviation over seeds. A diverged
// seed makes the mean +Inf.
type Stat struct {
	Mean float64 `json:"mean"`
	SD   float64 `json:"sd"` // NaN with fewer than 2 values
	N    int     `json:"n"`
}

// MarshalJSON writes a Stat with NaN and ±Inf as strings (see Float).
func (s Stat) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Mean Float `json:"mean"`
		SD   Float `json:"sd"`
		N    int   `json:"n"`
	}{Float(s.Mean), Float(s.SD), s.N})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *Stat) UnmarshalJSON(b []byte) error {
	var v struct {
		Mean Float `json:"mean"`
		SD   Float `json:"sd"`
		N    int   `json:"n"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = Stat{Mean: float64(v.Mean), SD: float64(v.SD), N: v.N}
	return nil
}

// NewStat returns the mean and sample standard deviation of xs.
func NewStat(xs []float64) Stat {
	s := Stat{N: len(xs), Mean: math.NaN(), SD: math.NaN()}
	if len(xs) == 0 {
		return s
	}
	var sum float64
	for _, x := range xs {
		if math.IsInf(x, 1) {
			s.Mean = math.Inf(1)
			return s
		}
		sum += x
	}
	s.Mean = sum / float64(len(xs))
	if len(xs) > 1 {
		var ss float64
		for _, x := range xs {
			ss += (x - s.Mean) * (x - s.Mean)
		}
		s.SD = math.Sqrt(ss / float64(len(xs)-1))
	}
	return s
}

// TaskInfo describes a task of a report.
type TaskInfo struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Budget      Budget `json:"budget"`
}

// SweepPoint is one learning rate of a sweep: the final validation loss over
// seeds there.
type SweepPoint struct {
	LR       float64 `json:"lr"`
	Val      Stat    `json:"val"`
	Diverged int     `json:"diverged"`
}

// Row is one (task, optimizer, schedule) of a report, at the best learning
// rate of its sweep: the one with the lowest mean final validation loss over
// seeds. AutoLRS chooses its own rate (LR is 0).
type Row struct {
	Task      string  `json:"task"`
	Optimizer string  `json:"optimizer"`
	Schedule  string  `json:"schedule"`
	LR        float64 `json:"lr"`
	// LREdge is set when the best rate is an end of a sweep of 3 or more:
	// the optimum may lie beyond it.
	LREdge bool         `json:"lr_edge"`
	Sweep  []SweepPoint `json:"sweep"`

	Seeds     []uint64 `json:"seeds"`      // at the best rate, ascending
	FinalVals Floats   `json:"final_vals"` // per seed (+Inf if diverged)
	EarlyVals Floats   `json:"early_vals"` // per seed: mean validation loss over the first half of the run
	Keys      []string `json:"keys"`       // per seed

	FinalTrain Stat `json:"final_train"`
	FinalVal   Stat `json:"final_val"`
	Early      Stat `json:"early_val"`
	Diverged   int  `json:"diverged"` // seeds that diverged at the best rate

	StepSeconds   Float `json:"step_seconds"`    // mean over seeds of the median step time
	StateBytes    int64 `json:"state_bytes"`     // largest over seeds
	PeakHeapBytes int64 `json:"peak_heap_bytes"` // largest over seeds
	LiveHeapBytes int64 `json:"live_heap_bytes"` // largest over seeds
	// AutoLRSLRs are the rates of the last stage, per seed (AutoLRS only).
	AutoLRSLRs []float64 `json:"autolrs_lrs,omitempty"`
}

// SummaryOptions configures Summarize.
type SummaryOptions struct {
	// Tasks fixes the order and descriptions of the tasks; tasks of results
	// not listed come after, by name.
	Tasks []TaskInfo
	// Margin is the relative tolerance of the "matches" claims (default 0.01).
	Margin float64
	// Seeds are the seeds the suite planned (for the report's header).
	Seeds []uint64
}

// Report is a summarised suite: a row per (task, optimizer, schedule) and
// the verdicts on the papers' claims.
type Report struct {
	Tasks  []TaskInfo `json:"tasks"`
	Seeds  []uint64   `json:"seeds"`
	Margin float64    `json:"margin"`
	Rows   []Row      `json:"rows"`
	Claims []Claim    `json:"claims"`

	results []*Result
	byKey   map[string]*Result
}

// Results returns the results the report summarises.
func (r *Report) Results() []*Result { return r.results }

// Row returns the row of (task, optimizer, schedule), or nil.
func (r *Report) Row(task, optimizer, schedule string) *Row {
	for i := range r.Rows {
		x := &r.Rows[i]
		if x.Task == task && x.Optimizer == optimizer && x.Schedule == schedule {
			return x
		}
	}
	return nil
}

// Summarize groups results by task, optimizer and schedule, picks the best
// learning rate of each sweep and evaluates the claims.
func Summarize(results []*Result, opts SummaryOptions) *Report {
	if opts.Margin == 0 {
		opts.Margin = 0.01
	}
	rep := &Report{Seeds: opts.Seeds, Margin: opts.Margin, results: results, byKey: map[string]*Result{}}
	type group struct{ task, opt, sched string }
	groups := map[group]map[float64][]*Result{}
	for _, r := range results {
		rep.byKey[r.Key] = r
		sp := r.Spec()
		g := group{sp.Task, sp.Optimizer, sp.Schedule}
		if groups[g] == nil {
			groups[g] = map[float64][]*Result{}
		}
		groups[g][sp.LR] = append(groups[g][sp.LR], r)
	}
	rep.Tasks = slices.Clone(opts.Tasks)
	for g := range groups {
		if !slices.ContainsFunc(rep.Tasks, func(t TaskInfo) bool { return t.Name == g.task }) {
			var b Budget
			for _, rs := range groups[g] {
				b = rs[0].Settings.Budget
				break
			}
			rep.Tasks = append(rep.Tasks, TaskInfo{Name: g.task, Budget: b})
		}
	}
	n := len(opts.Tasks)
	sort.SliceStable(rep.Tasks[n:], func(i, j int) bool { return rep.Tasks[n+i].Name < rep.Tasks[n+j].Name })

	for g, byLR := range groups {
		lrs := make([]float64, 0, len(byLR))
		for lr := range byLR {
			lrs = append(lrs, lr)
		}
		slices.Sort(lrs)
		best := bestLR(lrs, func(lr float64) []*Result { return byLR[lr] })
		row := Row{Task: g.task, Optimizer: g.opt, Schedule: g.sched, LR: best}
		for _, lr := range lrs {
			vals, div := finalVals(byLR[lr])
			row.Sweep = append(row.Sweep, SweepPoint{LR: lr, Val: NewStat(vals), Diverged: div})
		}
		row.LREdge = len(lrs) >= 3 && (best == lrs[0] || best == lrs[len(lrs)-1])
		rs := slices.Clone(byLR[best])
		sort.Slice(rs, func(i, j int) bool { return rs[i].Spec().Seed < rs[j].Spec().Seed })
		var trains, steps []float64
		for _, r := range rs {
			row.Seeds = append(row.Seeds, r.Spec().Seed)
			row.Keys = append(row.Keys, r.Key)
			row.FinalVals = append(row.FinalVals, float64(r.FinalVal))
			row.EarlyVals = append(row.EarlyVals, earlyVal(r))
			trains = append(trains, float64(r.FinalTrain))
			steps = append(steps, r.StepSeconds)
			if r.Diverged {
				row.Diverged++
			}
			row.StateBytes = max(row.StateBytes, r.StateBytes)
			row.PeakHeapBytes = max(row.PeakHeapBytes, r.PeakHeapBytes)
			row.LiveHeapBytes = max(row.LiveHeapBytes, r.LiveHeapBytes)
			if len(r.Stages) > 0 {
				row.AutoLRSLRs = append(row.AutoLRSLRs, r.Stages[len(r.Stages)-1].LR)
			}
		}
		row.FinalTrain, row.FinalVal, row.Early = NewStat(trains), NewStat(row.FinalVals), NewStat(row.EarlyVals)
		row.StepSeconds = Float(NewStat(steps).Mean)
		rep.Rows = append(rep.Rows, row)
	}
	sort.Slice(rep.Rows, func(i, j int) bool {
		a, b := rep.Rows[i], rep.Rows[j]
		if a.Task != b.Task {
			return rep.taskIndex(a.Task) < rep.taskIndex(b.Task)
		}
		if a.Optimizer != b.Optimizer {
			return nameIndex(OptimizerNames(), a.Optimizer) < nameIndex(OptimizerNames(), b.Optimizer)
		}
		return nameIndex(ScheduleNames(), a.Schedule) < nameIndex(ScheduleNames(), b.Schedule)
	})
	rep.Claims = evaluateClaims(rep)
	return rep
}

func (r *Report) taskIndex(name string) int {
	for i, t := range r.Tasks {
		if t.Name == name {
			return i
		}
	}
	return len(r.Tasks)
}

// nameIndex orders known names first, in their order, then others.
func nameIndex(known []string, name string) int {
	if i := slices.Index(known, name); i >= 0 {
		return i
	}
	return len(known)
}

// finalVals returns the final validation losses of rs and how many diverged.
func finalVals(rs []*Result) ([]float64, int) {
	var out []float64
	div := 0
	for _, r := range rs {
		out = append(out, float64(r.FinalVal))
		if r.Diverged {
			div++
		}
	}
	return out, div
}

// bestLR returns the rate of lrs (ascending) whose runs have the lowest mean
// final validation loss; ties and all-diverged sweeps give the lowest rate.
func bestLR(lrs []float64, at func(lr float64) []*Result) float64 {
	best, bestV := lrs[0], math.Inf(1)
	for _, lr := range lrs {
		vals, _ := finalVals(at(lr))
		if m := NewStat(vals).Mean; m < bestV {
			best, bestV = lr, m
		}
	}
	return best
}

// earlyVal is the mean validation loss over the evaluations in the first
// half of a run (step 0 excluded): a measure of how fast it converges.
func earlyVal(r *Result) float64 {
	if r.Diverged && r.DivergedStep <= r.Settings.Budget.Steps/2 {
		return math.Inf(1)
	}
	half := r.Settings.Budget.Steps / 2
	var sum float64
	n := 0
	for _, v := range r.Val {
		if v.Step > 0 && v.Step <= half {
			x := float64(v.Loss)
			if !finite(x) {
				return math.Inf(1)
			}
			sum += x
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return sum / float64(n)
}
