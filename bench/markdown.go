package bench

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// fmtStat formats a mean ± sd to 3 decimals ("diverged" for +Inf).
func fmtStat(s Stat) string {
	switch {
	case math.IsInf(s.Mean, 1):
		return "diverged"
	case math.IsNaN(s.Mean):
		return "n/a"
	case math.IsNaN(s.SD):
		return fmt.Sprintf("%.3f", s.Mean)
	}
	return fmt.Sprintf("%.3f ± %.3f", s.Mean, s.SD)
}

// fmtBytes formats a byte count in binary units.
func fmtBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// fmtLR formats a learning rate compactly ("auto" for 0).
func fmtLR(lr float64) string {
	if lr == 0 {
		return "auto"
	}
	return strconv.FormatFloat(lr, 'g', 3, 64)
}

// fmtDuration formats seconds per step in ms or µs.
func fmtDuration(sec float64) string {
	switch {
	case math.IsNaN(sec):
		return "n/a"
	case sec >= 1e-3:
		return fmt.Sprintf("%.2f ms", sec*1e3)
	}
	return fmt.Sprintf("%.0f µs", sec*1e6)
}

// MarkdownOptions adds context to a report's Markdown.
type MarkdownOptions struct {
	Title       string   // first heading (default "kiln bench")
	Command     string   // the command that made the report
	Environment []string // lines about the machine and the run
	PlotDir     string   // relative path of the plots, to link them ("" for none)
}

// Markdown renders the report: the claims with their verdicts, a tally per
// claim, and per task the results at the best rate of each sweep and the
// sweeps themselves.
func (r *Report) Markdown(o MarkdownOptions) string {
	var b strings.Builder
	title := o.Title
	if title == "" {
		title = "kiln bench"
	}
	fmt.Fprintf(&b, "# %s\n\n", title)
	if o.Command != "" {
		fmt.Fprintf(&b, "Made by `%s`.\n\n", o.Command)
	}
	for _, e := range o.Environment {
		fmt.Fprintf(&b, "- %s\n", e)
	}
	if len(o.Environment) > 0 {
		b.WriteString("\n")
	}
	b.WriteString(r.ClaimsMarkdown())
	b.WriteString("\n## Results\n\n")
	fmt.Fprintf(&b, "Each row is at the best learning rate of its sweep (lowest mean final validation loss over seeds; "+
		"a rate marked * is at an end of the sweep). Losses are mean ± sd over seeds %s: the training loss averaged over the "+
		"last 10%% of steps, the validation loss at the end. A refined run is built from the linear-decay run of the same rate and seed; AutoLRS "+
		"searches its own rate (the last stage's rate per seed is shown). Time is the median wall time of a training step, averaged over seeds; state is "+
		"the optimizer's state; peak heap is the most heap in use during a run (sampled after every step, garbage included) and live heap "+
		"the most in use after a collection (after the first step and at the end), both above the heap before the run.\n\n", fmtSeeds(r.Seeds))
	for _, t := range r.Tasks {
		b.WriteString(r.TaskMarkdown(t.Name))
		if o.PlotDir != "" {
			for _, p := range plotFiles(t.Name) {
				fmt.Fprintf(&b, "![%s](%s/%s)\n", p.title, o.PlotDir, p.file)
			}
			b.WriteString("\n")
		}
	}
	b.WriteString(r.SweepMarkdown())
	return b.String()
}

func fmtSeeds(seeds []uint64) string {
	if len(seeds) == 0 {
		return ""
	}
	parts := make([]string, len(seeds))
	for i, s := range seeds {
		parts[i] = strconv.FormatUint(s, 10)
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// ClaimsMarkdown renders the claims table and the tally per claim.
func (r *Report) ClaimsMarkdown() string {
	var b strings.Builder
	b.WriteString("## Claims\n\n")
	if len(r.Claims) == 0 {
		b.WriteString("No claim could be checked: the claims need AdamW with Lion, GaLore, Fira or Natural GaLore, or two schedules.\n")
		return b.String()
	}
	fmt.Fprintf(&b, "Differences are paired over seeds: mean ± 2 standard errors of the per-seed difference. "+
		"\"Matches\" allows %g%% of the reference's loss. Verdicts are computed from this run's numbers.\n\n", r.Margin*100)
	b.WriteString("| claim | task | measured | verdict |\n|---|---|---|---|\n")
	for _, c := range r.Claims {
		fmt.Fprintf(&b, "| %s | %s | %s | **%s** |\n", c.Claim, c.Task, c.Measured, c.Verdict)
	}
	b.WriteString("\n| claim | supported | not supported | inconclusive |\n|---|---|---|---|\n")
	for _, t := range Tally(r.Claims) {
		fmt.Fprintf(&b, "| %s | %d | %d | %d |\n", t.Claim, t.Supported, t.NotSupported, t.Inconclusive)
	}
	b.WriteString("\nRules:\n\n")
	seen := map[string]bool{}
	for _, c := range r.Claims {
		if !seen[c.ID] {
			seen[c.ID] = true
			fmt.Fprintf(&b, "- %s (%s): %s.\n", c.Claim, c.Source, c.Rule)
		}
	}
	return b.String()
}

// TaskMarkdown renders the results table of one task.
func (r *Report) TaskMarkdown(task string) string {
	var b strings.Builder
	for _, t := range r.Tasks {
		if t.Name == task {
			fmt.Fprintf(&b, "### %s\n\n", t.Name)
			if t.Description != "" {
				fmt.Fprintf(&b, "%s; ", t.Description)
			}
			fmt.Fprintf(&b, "%d steps, %d warm-up, validation every %d", t.Budget.Steps, t.Budget.Warmup, t.Budget.EvalEvery)
			if t.Budget.ClipNorm > 0 {
				fmt.Fprintf(&b, ", gradients clipped to norm %g", t.Budget.ClipNorm)
			}
			b.WriteString(".\n\n")
		}
	}
	b.WriteString("| optimizer | schedule | lr | train loss | val loss | time/step | state | peak heap | live heap |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, row := range r.Rows {
		if row.Task != task {
			continue
		}
		lr := fmtLR(row.LR)
		if row.LREdge {
			lr += "*"
		}
		if row.Schedule == "autolrs" {
			lr = "auto: " + fmtLRs(row.AutoLRSLRs)
		}
		val := fmtStat(row.FinalVal)
		if row.Diverged > 0 && row.Diverged < len(row.Seeds) {
			val += fmt.Sprintf(" (%d diverged)", row.Diverged)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", row.Optimizer, row.Schedule, lr,
			fmtStat(row.FinalTrain), val, fmtDuration(float64(row.StepSeconds)), fmtBytes(row.StateBytes),
			fmtBytes(row.PeakHeapBytes), fmtBytes(row.LiveHeapBytes))
	}
	b.WriteString("\n")
	return b.String()
}

// SweepMarkdown renders every sweep: the mean final validation loss at each
// learning rate.
func (r *Report) SweepMarkdown() string {
	var b strings.Builder
	b.WriteString("## Learning-rate sweeps\n\nMean final validation loss over seeds at each rate of the sweep; the best is in bold.\n\n")
	b.WriteString("| task | optimizer | schedule | sweep |\n|---|---|---|---|\n")
	for _, row := range r.Rows {
		if len(row.Sweep) < 2 {
			continue
		}
		var parts []string
		for _, p := range row.Sweep {
			s := fmt.Sprintf("%s: %s", fmtLR(p.LR), fmtStat(Stat{Mean: p.Val.Mean, SD: math.NaN()}))
			if p.LR == row.LR {
				s = "**" + s + "**"
			}
			parts = append(parts, s)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", row.Task, row.Optimizer, row.Schedule, strings.Join(parts, ", "))
	}
	return b.String()
}
