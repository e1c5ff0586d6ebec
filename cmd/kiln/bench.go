package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/kiln-ml/kiln/bench"
	"github.com/kiln-ml/kiln/kernels"
)

func init() {
	register(command{"bench", "compare optimizers and schedules on small tasks", runBench})
}

// benchFlags are the flags of kiln bench.
type benchFlags struct {
	tasks, optimizers, schedules string
	seeds                        string
	stepsScale                   float64
	sweep, rank, threads, evals  int
	weightDecay, margin          float64
	out, data                    string
	rerun, list                  bool
}

func parseBenchFlags(args []string, output io.Writer) (*benchFlags, bench.Config, error) {
	f := &benchFlags{}
	fs := flag.NewFlagSet("kiln bench", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: kiln bench [flags]

Benchmarks optimizers (%s) with learning-rate schedules (%s)
on small tasks (%s; "logreg" names the three logistic regressions), over several seeds,
each optimizer at the best rate of a small sweep. Writes to --out: summary.md (tables and
the papers' claims with verdicts computed from the run), summary.json, curves.csv, plots/
(loss vs step and vs time, shaded across seeds) and results/ (one JSON per run, every curve).
Finished runs are kept: after Ctrl-C, the same command skips them.

Flags:
`, strings.Join(bench.OptimizerNames(), ", "), strings.Join(bench.ScheduleNames(), ", "), strings.Join(bench.TaskNames(), ", "))
		fs.PrintDefaults()
	}
	fs.StringVar(&f.tasks, "tasks", "all", "comma-separated tasks: "+strings.Join(bench.TaskNames(), ", ")+", logreg or all")
	fs.StringVar(&f.optimizers, "optimizers", strings.Join(bench.OptimizerNames(), ","), "comma-separated optimizers")
	fs.StringVar(&f.schedules, "schedules", strings.Join(bench.ScheduleNames(), ","), "comma-separated schedules")
	fs.StringVar(&f.seeds, "seeds", "3", "seeds: a count N (seeds 1..N), a list (1,5,9) or a range (4-6)")
	fs.Float64Var(&f.stepsScale, "steps-scale", 1, "multiply every task's step budget by this")
	fs.IntVar(&f.evals, "evals", 10, "validations per run (besides the one at step 0)")
	fs.IntVar(&f.sweep, "sweep", 3, "learning rates per optimizer, a factor of 2 apart (1: the centre only)")
	fs.IntVar(&f.rank, "rank", 0, "rank of GaLore, Natural GaLore and Fira (default: a quarter of each task's width)")
	fs.Float64Var(&f.weightDecay, "weight-decay", 0, "weight decay of every optimizer")
	fs.Float64Var(&f.margin, "margin", 0.01, "relative loss tolerance of the \"matches\" claims")
	fs.StringVar(&f.out, "out", filepath.Join("runs", "bench"), "output directory")
	fs.StringVar(&f.data, "data", "", "text of the GPT task (default: $GOROOT/src/testdata/Isaac.Newton-Opticks.txt)")
	fs.IntVar(&f.threads, "threads", runtime.NumCPU(), "threads for the kernels (results do not depend on it)")
	fs.BoolVar(&f.rerun, "rerun", false, "run again even the runs that have stored results, replacing them")
	fs.BoolVar(&f.list, "list", false, "print the plan (runs and steps) and exit")
	if err := fs.Parse(args); err != nil {
		return nil, bench.Config{}, errUsage
	}
	if fs.NArg() > 0 {
		return nil, bench.Config{}, fmt.Errorf("unexpected arguments %q (flags start with -)", fs.Args())
	}
	if f.threads < 1 {
		return nil, bench.Config{}, fmt.Errorf("--threads %d must be at least 1", f.threads)
	}
	seeds, err := parseSeeds(f.seeds)
	if err != nil {
		return nil, bench.Config{}, err
	}
	cfg := bench.Config{
		Tasks: splitList(f.tasks), Optimizers: splitList(f.optimizers), Schedules: splitList(f.schedules),
		Seeds: seeds, StepsScale: f.stepsScale, Evals: f.evals, Sweep: f.sweep, Rank: f.rank, WeightDecay: f.weightDecay,
		Margin: f.margin, Out: f.out, Rerun: f.rerun, Corpus: f.data,
	}
	if f.sweep < 1 {
		return nil, cfg, fmt.Errorf("--sweep %d must be at least 1", f.sweep)
	}
	if f.evals < 1 {
		return nil, cfg, fmt.Errorf("--evals %d must be at least 1", f.evals)
	}
	return f, cfg, nil
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// parseSeeds reads --seeds: a count N (seeds 1..N), a list or a range.
func parseSeeds(s string) ([]uint64, error) {
	bad := func() error {
		return fmt.Errorf("--seeds %q: want a count (3), a list (1,5,9) or a range (4-6)", s)
	}
	s = strings.TrimSpace(s)
	switch {
	case strings.Contains(s, ","):
		var out []uint64
		for _, p := range splitList(s) {
			v, err := strconv.ParseUint(p, 10, 64)
			if err != nil {
				return nil, bad()
			}
			out = append(out, v)
		}
		if len(out) == 0 {
			return nil, bad()
		}
		return out, nil
	case strings.Contains(s, "-"):
		lo, hi, _ := strings.Cut(s, "-")
		a, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 64)
		b, err2 := strconv.ParseUint(strings.TrimSpace(hi), 10, 64)
		if err1 != nil || err2 != nil || b < a || b-a > 1000 {
			return nil, bad()
		}
		var out []uint64
		for v := a; v <= b; v++ {
			out = append(out, v)
		}
		return out, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n < 1 || n > 1000 {
		return nil, bad()
	}
	out := make([]uint64, n)
	for i := range out {
		out[i] = uint64(i + 1)
	}
	return out, nil
}

// commandLine quotes args as a shell would need them.
func commandLine(args []string) string {
	parts := []string{"kiln", "bench"}
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\"'$\\*?") {
			a = strconv.Quote(a)
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

func runBench(ctx context.Context, args []string) error {
	return benchMain(ctx, args, os.Stdout, os.Stderr)
}

func benchMain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, cfg, err := parseBenchFlags(args, stderr)
	if err != nil {
		return err
	}
	kernels.SetThreads(f.threads)
	runtime.GOMAXPROCS(max(f.threads, 1))

	var bar *progress
	executed, cached := 0, 0
	cfg.OnRun = func(ev bench.Event) {
		if ev.Result == nil {
			return
		}
		if ev.Cached {
			cached++
		} else {
			executed++
		}
		status := fmt.Sprintf("%v: val %.4f", ev.Spec, float64(ev.Result.FinalVal))
		if ev.Result.Diverged {
			status = fmt.Sprintf("%v: diverged at step %d", ev.Spec, ev.Result.DivergedStep)
		}
		if ev.Cached {
			status += " (stored)"
		} else {
			status += fmt.Sprintf(" (%.1fs)", ev.Elapsed.Seconds())
		}
		if bar != nil {
			bar.update(ev.Index, status)
		}
	}
	s, err := bench.New(cfg)
	if err != nil {
		return err
	}
	cfg = s.Config()
	runs, steps := s.Count()
	fmt.Fprintf(stderr, "kiln bench: %d runs, %d steps: %d tasks x %d optimizers x %d schedules x %d seeds (%d learning rates per sweep)\n",
		runs, steps, len(cfg.Tasks), len(cfg.Optimizers), len(cfg.Schedules), len(cfg.Seeds), cfg.Sweep)
	for _, t := range s.Tasks() {
		b := s.Budget(t)
		fmt.Fprintf(stderr, "  %-11s %d steps: %s\n", t.Name(), b.Steps, t.Description())
	}
	fmt.Fprintf(stderr, "  %d threads, %s kernels; results in %s\n", f.threads, kernels.Path(), s.Store().Dir())
	if f.list {
		return nil
	}
	bar = newProgress(runs, 0, "bench")
	start := time.Now()
	load0 := loadAverage()
	rep, err := s.Run(ctx)
	bar.finish()
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			fmt.Fprintf(stderr, "interrupted: %d of %d runs are finished and stored in %s; run the same command again to continue\n",
				executed+cached, runs, s.Store().Dir())
		}
		return err
	}
	wall := time.Since(start)
	env := []string{
		fmt.Sprintf("%d runs (%d run now, %d loaded from %s) in %s wall time", runs, executed, cached, s.Store().Dir(), wall.Round(time.Second)),
		fmt.Sprintf("%s, %d kernel threads, %s kernels, %s %s/%s", kernels.CPU(), f.threads, kernels.Path(), runtime.Version(), runtime.GOOS, runtime.GOARCH),
		fmt.Sprintf("numerics fingerprint %s (part of every run's key)", s.Numerics()),
	}
	if load0 != "" {
		env = append(env, fmt.Sprintf("load average at the start: %s; at the end: %s", load0, loadAverage()))
	}
	written, err := rep.Write(cfg.Out, bench.MarkdownOptions{Command: commandLine(args), Environment: env})
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, rep.ClaimsMarkdown())
	fmt.Fprintln(stdout)
	for _, t := range rep.Tasks {
		fmt.Fprint(stdout, rep.TaskMarkdown(t.Name))
	}
	fmt.Fprintf(stderr, "done in %s (%d runs run, %d loaded); wrote %s and %d plots to %s\n",
		wall.Round(time.Second), executed, cached, strings.Join(baseNames(written[:3]), ", "), len(written)-3, filepath.Join(cfg.Out, bench.PlotDir))
	return nil
}

func baseNames(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = filepath.Base(p)
	}
	return out
}

// loadAverage returns the 1, 5 and 15-minute load averages where the system
// reports them (Linux), or "".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	fields := strings.Fields(string(b))
	if len(fields) < 3 {
		return ""
	}
	return strings.Join(fields[:3], " ")
}
