package bench

import (
	"fmt"
	"math"
	"strings"
)

// Verdict is what a run's numbers say about a claim.
type Verdict string

// The verdicts. Inconclusive means the measured difference is within the
// noise across seeds (or there are too few seeds to measure the noise).
const (
	Supported    Verdict = "supported"
	NotSupported Verdict = "not supported"
	Inconclusive Verdict = "inconclusive (within noise)"
)

// Claim is one paper's claim checked on one task: the numbers of this run
// that bear on it and the verdict they give.
type Claim struct {
	ID       string  `json:"id"`
	Claim    string  `json:"claim"`
	Source   string  `json:"source"`
	Task     string  `json:"task"`
	Measured string  `json:"measured"`
	Rule     string  `json:"rule"`
	Verdict  Verdict `json:"verdict"`
}

// Comparison is the paired difference a − b of a metric over the seeds two
// rows share: Diff is its mean, SE its standard error (NaN with fewer than
// two seeds).
type Comparison struct {
	Diff, SE float64
	N        int
}

// Compare returns the paired comparison of a and b (per-seed values, seeds
// as given). Seeds present in only one are ignored.
func Compare(aSeeds []uint64, a []float64, bSeeds []uint64, b []float64) Comparison {
	var d []float64
	for i, s := range aSeeds {
		for j, t := range bSeeds {
			if s == t {
				d = append(d, a[i]-b[j])
			}
		}
	}
	c := Comparison{Diff: math.NaN(), SE: math.NaN(), N: len(d)}
	inf := 0.0 // the sign of the infinite differences (a seed where one side diverged)
	for _, x := range d {
		switch {
		case math.IsNaN(x): // both diverged
			return c
		case math.IsInf(x, 0):
			if inf != 0 && inf != x {
				return c
			}
			inf = x
		}
	}
	if inf != 0 {
		c.Diff = inf
		return c
	}
	st := NewStat(d)
	c.Diff = st.Mean
	if len(d) > 1 {
		c.SE = st.SD / math.Sqrt(float64(len(d)))
	}
	return c
}

// Better is the verdict on "a is lower than b": supported if the interval
// Diff ± 2·SE lies below 0, not supported if it lies at or above 0,
// inconclusive otherwise. An infinite Diff (one side diverged) decides
// without noise.
func (c Comparison) Better() Verdict { return c.within(0) }

// Matches is the verdict on "a is at most b + margin" (margin in absolute
// units): supported if Diff + 2·SE ≤ margin, not supported if Diff − 2·SE
// > margin, inconclusive otherwise.
func (c Comparison) Matches(margin float64) Verdict { return c.within(margin) }

// within decides "Diff ≤ m" (strictly below for m = 0).
func (c Comparison) within(m float64) Verdict {
	switch {
	case math.IsInf(c.Diff, -1):
		return Supported
	case math.IsInf(c.Diff, 1):
		return NotSupported
	case math.IsNaN(c.Diff) || math.IsNaN(c.SE):
		return Inconclusive
	}
	lo, hi := c.Diff-2*c.SE, c.Diff+2*c.SE
	if m == 0 {
		switch {
		case hi < 0:
			return Supported
		case lo >= 0:
			return NotSupported
		}
		return Inconclusive
	}
	switch {
	case hi <= m:
		return Supported
	case lo > m:
		return NotSupported
	}
	return Inconclusive
}

func (c Comparison) String() string {
	if math.IsNaN(c.SE) {
		return fmt.Sprintf("%+.4f (n=%d)", c.Diff, c.N)
	}
	return fmt.Sprintf("%+.4f ± %.4f", c.Diff, 2*c.SE)
}

// both combines two verdicts that must both hold.
func both(a, b Verdict) Verdict {
	switch {
	case a == NotSupported || b == NotSupported:
		return NotSupported
	case a == Supported && b == Supported:
		return Supported
	}
	return Inconclusive
}

func memoryVerdict(ok bool) Verdict {
	if ok {
		return Supported
	}
	return NotSupported
}

// evaluateClaims checks each claim on each task that has the rows it needs.
// Optimizers are compared under the reference schedule (cosine, else linear
// decay), schedules with the reference optimizer (AdamW, else the first).
func evaluateClaims(rep *Report) []Claim {
	var out []Claim
	for _, t := range rep.Tasks {
		refSched := firstRow(rep, t.Name, []string{"adamw"}, []string{"cosine", "linear", "refined"})
		refOpt := firstRow(rep, t.Name, append([]string{"adamw"}, OptimizerNames()...), []string{"cosine", "linear", "refined", "autolrs"})
		sched := ""
		if refSched != nil {
			sched = refSched.Schedule
		}
		get := func(opt, sc string) *Row { return rep.Row(t.Name, opt, sc) }
		margin := func(ref *Row) float64 { return rep.Margin * math.Abs(ref.FinalVal.Mean) }
		add := func(c Claim) {
			c.Task = t.Name
			out = append(out, c)
		}
		final := func(a, b *Row) Comparison { return Compare(a.Seeds, a.FinalVals, b.Seeds, b.FinalVals) }
		pct := fmt.Sprintf("%g%%", rep.Margin*100)

		if adamw, lion := get("adamw", sched), get("lion", sched); adamw != nil && lion != nil {
			c := final(lion, adamw)
			ratio := float64(lion.StateBytes) / float64(adamw.StateBytes)
			add(Claim{
				ID: "lion", Claim: "Lion matches AdamW with less optimizer memory",
				Source: "Symbolic Discovery of Optimization Algorithms",
				Measured: fmt.Sprintf("val %s (Lion) vs %s (AdamW), diff %s; state %s vs %s (%.2fx)",
					fmtStat(lion.FinalVal), fmtStat(adamw.FinalVal), c, fmtBytes(lion.StateBytes), fmtBytes(adamw.StateBytes), ratio),
				Rule:    fmt.Sprintf("Lion − AdamW ≤ %s of AdamW's loss (interval diff ± 2 SE over seeds, %s schedule) and Lion's state smaller", pct, sched),
				Verdict: both(c.Matches(margin(adamw)), memoryVerdict(lion.StateBytes < adamw.StateBytes)),
			})
		}
		if adamw, galore := get("adamw", sched), get("galore", sched); adamw != nil && galore != nil {
			c := final(galore, adamw)
			ratio := float64(galore.StateBytes) / float64(adamw.StateBytes)
			add(Claim{
				ID: "galore", Claim: "GaLore nears full-rank (AdamW) quality with far less optimizer state",
				Source: "GaLore: Memory-Efficient LLM Training by Gradient Low-Rank Projection",
				Measured: fmt.Sprintf("val %s (GaLore) vs %s (AdamW), diff %s; state %s vs %s (%.2fx)",
					fmtStat(galore.FinalVal), fmtStat(adamw.FinalVal), c, fmtBytes(galore.StateBytes), fmtBytes(adamw.StateBytes), ratio),
				Rule:    fmt.Sprintf("GaLore − AdamW ≤ %s of AdamW's loss (diff ± 2 SE, %s schedule) and GaLore's state at most half of AdamW's", pct, sched),
				Verdict: both(c.Matches(margin(adamw)), memoryVerdict(2*galore.StateBytes <= adamw.StateBytes)),
			})
		}
		if adamw, galore, fira := get("adamw", sched), get("galore", sched), get("fira", sched); adamw != nil && galore != nil && fira != nil {
			cg := final(fira, galore)
			ca := final(fira, adamw)
			gap := galore.FinalVal.Mean - adamw.FinalVal.Mean
			closed := "n/a (no gap)"
			if gap > 0 && finite(gap) {
				closed = fmt.Sprintf("%.0f%%", 100*(galore.FinalVal.Mean-fira.FinalVal.Mean)/gap)
			}
			add(Claim{
				ID: "fira", Claim: "Fira closes GaLore's gap to full-rank training",
				Source: "Fira: Can We Achieve Full-rank Training of LLMs Under Low-rank Constraint?",
				Measured: fmt.Sprintf("val %s (Fira) vs %s (GaLore) vs %s (AdamW); Fira − GaLore %s, Fira − AdamW %s; gap closed %s",
					fmtStat(fira.FinalVal), fmtStat(galore.FinalVal), fmtStat(adamw.FinalVal), cg, ca, closed),
				Rule:    fmt.Sprintf("Fira < GaLore (diff ± 2 SE below 0) and Fira − AdamW ≤ %s of AdamW's loss, %s schedule", pct, sched),
				Verdict: both(cg.Better(), ca.Matches(margin(adamw))),
			})
		}
		if galore, nat := get("galore", sched), get("natural-galore", sched); galore != nil && nat != nil {
			c := Compare(nat.Seeds, nat.EarlyVals, galore.Seeds, galore.EarlyVals)
			cf := final(nat, galore)
			add(Claim{
				ID: "natural-galore", Claim: "Natural GaLore converges faster than GaLore on a small budget",
				Source: "Natural GaLore: Accelerating GaLore for memory-efficient LLM Training and Fine-tuning",
				Measured: fmt.Sprintf("mean val over the first half %s (Natural GaLore) vs %s (GaLore), diff %s; final diff %s; state %s vs %s",
					fmtStat(nat.Early), fmtStat(galore.Early), c, cf, fmtBytes(nat.StateBytes), fmtBytes(galore.StateBytes)),
				Rule:    fmt.Sprintf("Natural GaLore's mean validation loss over the first half of the run below GaLore's (diff ± 2 SE below 0), %s schedule", sched),
				Verdict: c.Better(),
			})
		}
		if refOpt == nil {
			continue
		}
		opt := refOpt.Optimizer
		if lin, cos := get(opt, "linear"), get(opt, "cosine"); lin != nil && cos != nil {
			c := final(lin, cos)
			add(Claim{
				ID: "linear", Claim: "Linear decay matches or beats cosine",
				Source: "When, Why and How Much? Adaptive Learning Rate Scheduling by Refinement",
				Measured: fmt.Sprintf("%s: val %s (linear, lr %s) vs %s (cosine, lr %s), diff %s",
					opt, fmtStat(lin.FinalVal), fmtLR(lin.LR), fmtStat(cos.FinalVal), fmtLR(cos.LR), c),
				Rule:    fmt.Sprintf("linear − cosine ≤ %s of cosine's loss (diff ± 2 SE), each at its best rate", pct),
				Verdict: c.Matches(margin(cos)),
			})
		}
		if ref, lin := get(opt, "refined"), get(opt, "linear"); ref != nil && lin != nil {
			c := final(ref, lin)
			add(Claim{
				ID: "refined", Claim: "Refining linear decay with the gradient norms of a previous run improves on it",
				Source: "When, Why and How Much? Adaptive Learning Rate Scheduling by Refinement",
				Measured: fmt.Sprintf("%s: val %s (refined, lr %s) vs %s (linear, lr %s), diff %s",
					opt, fmtStat(ref.FinalVal), fmtLR(ref.LR), fmtStat(lin.FinalVal), fmtLR(lin.LR), c),
				Rule:    "refined < linear (diff ± 2 SE below 0), each at its best rate; a refined run follows the gradient norms of the linear run of its rate and seed",
				Verdict: c.Better(),
			})
		}
		if auto := get(opt, "autolrs"); auto != nil {
			var best *Row
			for _, sc := range []string{"cosine", "linear", "refined"} {
				if r := get(opt, sc); r != nil && (best == nil || r.FinalVal.Mean < best.FinalVal.Mean) {
					best = r
				}
			}
			if best != nil {
				c := final(auto, best)
				add(Claim{
					ID: "autolrs", Claim: "AutoLRS beats the best hand-tuned schedule at equal steps",
					Source: "AutoLRS: Automatic Learning-Rate Schedule by Bayesian Optimization on the Fly",
					Measured: fmt.Sprintf("%s: val %s (AutoLRS, last-stage lr %s) vs %s (%s at its best lr %s), diff %s",
						opt, fmtStat(auto.FinalVal), fmtLRs(auto.AutoLRSLRs), fmtStat(best.FinalVal), best.Schedule, fmtLR(best.LR), c),
					Rule:    "AutoLRS < best fixed schedule (diff ± 2 SE below 0); probe steps count in AutoLRS's budget",
					Verdict: c.Better(),
				})
			}
		}
	}
	return out
}

// firstRow returns the first row of task found trying optimizers in order,
// and for each, schedules in order.
func firstRow(rep *Report, task string, optimizers, schedules []string) *Row {
	for _, o := range optimizers {
		for _, s := range schedules {
			if r := rep.Row(task, o, s); r != nil {
				return r
			}
		}
	}
	return nil
}

// ClaimTally counts the verdicts of one claim over tasks.
type ClaimTally struct {
	ID, Claim                             string
	Supported, NotSupported, Inconclusive int
}

// Tally counts the verdicts of each claim, in the order claims first appear.
func Tally(claims []Claim) []ClaimTally {
	var out []ClaimTally
	for _, c := range claims {
		i := 0
		for i < len(out) && out[i].ID != c.ID {
			i++
		}
		if i == len(out) {
			out = append(out, ClaimTally{ID: c.ID, Claim: c.Claim})
		}
		switch c.Verdict {
		case Supported:
			out[i].Supported++
		case NotSupported:
			out[i].NotSupported++
		default:
			out[i].Inconclusive++
		}
	}
	return out
}

func fmtLRs(lrs []float64) string {
	if len(lrs) == 0 {
		return "n/a"
	}
	parts := make([]string, len(lrs))
	for i, v := range lrs {
		parts[i] = fmtLR(v)
	}
	return strings.Join(parts, "/")
}
