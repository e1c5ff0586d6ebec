package bench

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
)

// Files written by Report.Write, relative to its directory.
const (
	SummaryMarkdownFile = "summary.md"
	SummaryJSONFile     = "summary.json"
	CurvesCSVFile       = "curves.csv"
	PlotDir             = "plots"
)

// Write writes the report into dir: summary.md (tables, claims, plot links),
// summary.json (rows and claims), curves.csv (every step of every run) and
// the plots under plots/. Per-run JSON with every curve is in the result
// store. It returns the paths written.
func (r *Report) Write(dir string, o MarkdownOptions) ([]string, error) {
	if err := os.MkdirAll(filepath.Join(dir, PlotDir), 0o755); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	plots, err := r.WritePlots(filepath.Join(dir, PlotDir))
	if err != nil {
		return nil, err
	}
	o.PlotDir = PlotDir
	written := []string{}
	md := filepath.Join(dir, SummaryMarkdownFile)
	if err := writeFileAtomic(md, []byte(r.Markdown(o))); err != nil {
		return nil, err
	}
	written = append(written, md)
	js, err := json.MarshalIndent(struct {
		Command     string   `json:"command,omitempty"`
		Environment []string `json:"environment,omitempty"`
		*Report
	}{o.Command, o.Environment, r}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("bench: summary: %w", err)
	}
	sj := filepath.Join(dir, SummaryJSONFile)
	if err := writeFileAtomic(sj, js); err != nil {
		return nil, err
	}
	written = append(written, sj)
	csvPath := filepath.Join(dir, CurvesCSVFile)
	if err := r.writeCurvesFile(csvPath); err != nil {
		return nil, err
	}
	written = append(written, csvPath)
	return append(written, plots...), nil
}

func (r *Report) writeCurvesFile(path string) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	w := bufio.NewWriter(f)
	err = r.WriteCurves(w)
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("bench: writing %s: %w", path, err)
	}
	return nil
}

// WriteCurves writes every step of every run of the report as CSV: task,
// optimizer, schedule, peak lr (0 for AutoLRS), seed, step, cumulative
// training seconds, the step's lr, training loss, gradient ℓ2 and ℓ1
// norms, and the validation loss on steps that validated (step 0 included).
func (r *Report) WriteCurves(out io.Writer) error {
	w := csv.NewWriter(out)
	if err := w.Write([]string{"task", "optimizer", "schedule", "peak_lr", "seed", "step", "seconds", "lr", "train_loss", "grad_norm", "grad_norm_l1", "val_loss"}); err != nil {
		return err
	}
	rs := append([]*Result(nil), r.results...)
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].Key < rs[j].Key })
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	for _, res := range rs {
		sp := res.Spec()
		head := []string{sp.Task, sp.Optimizer, sp.Schedule, f(sp.LR), strconv.FormatUint(sp.Seed, 10)}
		val := map[int]float64{}
		for _, v := range res.Val {
			val[v.Step] = float64(v.Loss)
		}
		if v, ok := val[0]; ok {
			if err := w.Write(append(head, "0", "0", "", "", "", "", f(v))); err != nil {
				return err
			}
		}
		for i := range res.Loss {
			step := i + 1
			vs := ""
			if v, ok := val[step]; ok {
				vs = f(v)
			}
			rec := append(append([]string(nil), head...), strconv.Itoa(step), f(res.Seconds[i]), f(res.LR[i]),
				f(res.Loss[i]), f(res.GradNorm[i]), f(res.GradNormL1[i]), vs)
			if err := w.Write(rec); err != nil {
				return err
			}
		}
	}
	w.Flush()
	return w.Error()
}
