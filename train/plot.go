package train

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Series is one line of a plot.
type Series struct {
	Name string
	X, Y []float64
}

// PlotLines draws series as lines into a PNG (or SVG/PDF, by path's
// extension) with the given title and axis labels. Non-finite points are
// skipped.
func PlotLines(path, title, xLabel, yLabel string, series ...Series) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	p.Add(plotter.NewGrid())
	drawn := 0
	for i, s := range series {
		pts := make(plotter.XYs, 0, len(s.X))
		for j := range s.X {
			if j < len(s.Y) && !math.IsNaN(s.Y[j]) && !math.IsInf(s.Y[j], 0) {
				pts = append(pts, plotter.XY{X: s.X[j], Y: s.Y[j]})
			}
		}
		if len(pts) == 0 {
			continue
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return fmt.Errorf("train: plot %s: %w", s.Name, err)
		}
		l.Color = Palette[i%len(Palette)]
		l.Width = vg.Points(1.5)
		p.Add(l)
		if len(pts) < 40 {
			sc, err := plotter.NewScatter(pts)
			if err == nil {
				sc.Color = l.Color
				p.Add(sc)
			}
		}
		p.Legend.Add(s.Name, l)
		drawn++
	}
	if drawn == 0 {
		return fmt.Errorf("train: plot %q: no finite points to draw", title)
	}
	p.Legend.Top = true
	if err := p.Save(8*vg.Inch, 5*vg.Inch, path); err != nil {
		return fmt.Errorf("train: plot: %w", err)
	}
	return nil
}

// Palette is the line colours of plots, distinguishable in print.
var Palette = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff},
	color.RGBA{R: 0x8c, G: 0x56, B: 0x4b, A: 0xff},
	color.RGBA{R: 0xe3, G: 0x77, B: 0xc2, A: 0xff},
	color.RGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff},
}

// PlotLoss draws a run's training loss (smoothed with an exponential moving
// average) and validation loss against the step.
func PlotLoss(path, title string, recs []Record) error {
	var train, val Series
	train.Name, val.Name = "train (EMA)", "validation"
	ema := math.NaN()
	for _, r := range recs {
		if !math.IsNaN(r.Loss) && !math.IsInf(r.Loss, 0) {
			if math.IsNaN(ema) {
				ema = r.Loss
			} else {
				ema = 0.9*ema + 0.1*r.Loss
			}
			train.X = append(train.X, float64(r.Step))
			train.Y = append(train.Y, ema)
		}
		if r.ValLoss != nil {
			val.X = append(val.X, float64(r.Step))
			val.Y = append(val.Y, *r.ValLoss)
		}
	}
	return PlotLines(path, title, "step", "loss (nats/token)", train, val)
}
