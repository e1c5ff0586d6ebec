package bench

import (
	"fmt"
	"image/color"
	"math"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/kiln-ml/kiln/train"
)

// Band is one line of a plot with a shaded band: the mean of a curve over
// seeds and, around it, mean ± sd.
type Band struct {
	Name      string
	X, Y, Err []float64 // Err is the sd (NaN or 0: no band)
}

// PlotBands draws bands into a PNG (or SVG/PDF, by path's extension): each
// mean as a line, mean ± sd shaded in the same colour. The y axis spans the
// bands from xFrom on (earlier points, such as the loss at step 0, are drawn
// but may leave the plot), so that the differences that matter are visible.
func PlotBands(path, title, xLabel, yLabel string, xFrom float64, bands ...Band) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	p.Add(plotter.NewGrid())
	lo, hi := math.Inf(1), math.Inf(-1)
	drawn := 0
	for i, bd := range bands {
		var pts, upper, lower plotter.XYs
		for j := range bd.X {
			if j >= len(bd.Y) || !finite(bd.Y[j]) || !finite(bd.X[j]) {
				continue
			}
			x, y := bd.X[j], bd.Y[j]
			pts = append(pts, plotter.XY{X: x, Y: y})
			e := 0.0
			if j < len(bd.Err) && finite(bd.Err[j]) {
				e = bd.Err[j]
			}
			upper = append(upper, plotter.XY{X: x, Y: y + e})
			lower = append(lower, plotter.XY{X: x, Y: y - e})
			if x >= xFrom {
				lo, hi = math.Min(lo, y-e), math.Max(hi, y+e)
			}
		}
		if len(pts) == 0 {
			continue
		}
		c := train.Palette[i%len(train.Palette)]
		if len(pts) > 1 {
			poly := append(plotter.XYs{}, upper...)
			for k := len(lower) - 1; k >= 0; k-- {
				poly = append(poly, lower[k])
			}
			pg, err := plotter.NewPolygon(poly)
			if err != nil {
				return fmt.Errorf("bench: plot %s: %w", bd.Name, err)
			}
			r, g, bl, _ := c.RGBA()
			pg.Color = color.NRGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(bl >> 8), A: 0x38}
			pg.LineStyle.Width = 0
			p.Add(pg)
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return fmt.Errorf("bench: plot %s: %w", bd.Name, err)
		}
		l.Color = c
		l.Width = vg.Points(1.5)
		p.Add(l)
		if len(pts) <= 40 {
			if sc, err := plotter.NewScatter(pts); err == nil {
				sc.Color = c
				sc.Shape = draw.CircleGlyph{}
				sc.Radius = vg.Points(1.8)
				p.Add(sc)
			}
		}
		p.Legend.Add(bd.Name, l)
		drawn++
	}
	if drawn == 0 {
		return fmt.Errorf("bench: plot %q: no finite points to draw", title)
	}
	if lo < hi {
		pad := 0.05 * (hi - lo)
		p.Y.Min, p.Y.Max = lo-pad, hi+pad
	}
	p.Legend.Top = true
	if err := p.Save(8*vg.Inch, 5*vg.Inch, path); err != nil {
		return fmt.Errorf("bench: plot: %w", err)
	}
	return nil
}

// valBand returns the validation curve of the runs of a row, against the
// step (time false) or the training seconds (time true): mean and sd over
// the seeds that validated at each step.
func valBand(name string, rs []*Result, time bool) Band {
	b := Band{Name: name}
	if len(rs) == 0 {
		return b
	}
	// Validation steps are the same for every seed of a row; a diverged
	// seed stops early and drops out of the later points.
	longest := rs[0]
	for _, r := range rs {
		if len(r.Val) > len(longest.Val) {
			longest = r
		}
	}
	for i, v := range longest.Val {
		var ys, xs []float64
		for _, r := range rs {
			if i < len(r.Val) && r.Val[i].Step == v.Step && finite(float64(r.Val[i].Loss)) {
				ys = append(ys, float64(r.Val[i].Loss))
				xs = append(xs, r.Val[i].Seconds)
			}
		}
		if len(ys) == 0 {
			continue
		}
		st := NewStat(ys)
		x := float64(v.Step)
		if time {
			x = NewStat(xs).Mean
		}
		b.X, b.Y, b.Err = append(b.X, x), append(b.Y, st.Mean), append(b.Err, st.SD)
	}
	return b
}

type plotFile struct{ file, title string }

// plotFiles names the plots of a task.
func plotFiles(task string) []plotFile {
	return []plotFile{
		{task + "-optimizers-step.png", task + ": validation loss vs step, one line per optimizer"},
		{task + "-optimizers-time.png", task + ": validation loss vs training time, one line per optimizer"},
		{task + "-schedules-step.png", task + ": validation loss vs step, one line per schedule"},
	}
}

// WritePlots draws, for every task, the validation loss of each optimizer
// at its best rate under the reference schedule (cosine, else linear
// decay) against the step and against training time, and that of each
// schedule with the reference optimizer (AdamW, else the first), shaded
// mean ± sd over seeds. It returns the files written.
func (r *Report) WritePlots(dir string) ([]string, error) {
	var written []string
	for _, t := range r.Tasks {
		files := plotFiles(t.Name)
		from := 0.25 * float64(t.Budget.Steps)
		if ref := firstRow(r, t.Name, append([]string{"adamw"}, OptimizerNames()...), []string{"cosine", "linear", "refined"}); ref != nil {
			sched := ref.Schedule
			var byStep, byTime []Band
			t0 := math.Inf(1)
			for _, row := range r.Rows {
				if row.Task != t.Name || row.Schedule != sched {
					continue
				}
				name := fmt.Sprintf("%s (lr %s)", row.Optimizer, fmtLR(row.LR))
				rs := r.rowResults(&row)
				byStep = append(byStep, valBand(name, rs, false))
				bt := valBand(name, rs, true)
				if len(bt.X) > 1 {
					// Time from the first 25% of the steps of the fastest,
					// for the y range.
					t0 = math.Min(t0, bt.X[len(bt.X)-1]*0.25)
				}
				byTime = append(byTime, bt)
			}
			steps := filepath.Join(dir, files[0].file)
			if err := PlotBands(steps, fmt.Sprintf("%s: validation loss, %s schedule, best lr per optimizer (mean ± sd over seeds)", t.Name, sched),
				"step", "validation loss", from, byStep...); err != nil {
				return written, err
			}
			written = append(written, steps)
			times := filepath.Join(dir, files[1].file)
			if err := PlotBands(times, fmt.Sprintf("%s: validation loss vs training time, %s schedule (mean ± sd over seeds)", t.Name, sched),
				"training seconds (validation excluded)", "validation loss", t0, byTime...); err != nil {
				return written, err
			}
			written = append(written, times)
		}
		if ref := firstRow(r, t.Name, append([]string{"adamw"}, OptimizerNames()...), ScheduleNames()); ref != nil {
			var bands []Band
			for _, row := range r.Rows {
				if row.Task != t.Name || row.Optimizer != ref.Optimizer {
					continue
				}
				name := fmt.Sprintf("%s (lr %s)", row.Schedule, fmtLR(row.LR))
				if row.Schedule == "autolrs" {
					name = "autolrs (searched)"
				}
				bands = append(bands, valBand(name, r.rowResults(&row), false))
			}
			path := filepath.Join(dir, files[2].file)
			if err := PlotBands(path, fmt.Sprintf("%s: validation loss, %s, one line per schedule (mean ± sd over seeds)", t.Name, ref.Optimizer),
				"step", "validation loss", from, bands...); err != nil {
				return written, err
			}
			written = append(written, path)
		}
	}
	return written, nil
}

// rowResults returns the results behind a row.
func (r *Report) rowResults(row *Row) []*Result {
	var out []*Result
	for _, k := range row.Keys {
		if res, ok := r.byKey[k]; ok {
			out = append(out, res)
		}
	}
	return out
}
