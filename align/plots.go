package align

import (
	"fmt"
	"math"
	"path/filepath"

	"github.com/kiln-ml/kiln/train"
)

// PlotRun draws the curves of an alignment run's metrics into dir:
// loss.png (training loss, smoothed, and held-out loss), reward_accuracy.png
// (reward accuracy in training and on held-out data, ranking accuracy),
// rewards.png (margins, chosen and rejected rewards), kl.png (the sampled
// KL estimates and the proxy) and rule.png (rule satisfaction of fresh
// samples). A plot whose metrics the run did not log is skipped.
func PlotRun(dir string, recs []train.Record) error {
	plots := []struct {
		file, title, y string
		series         []train.Series
	}{
		{"loss.png", "alignment loss", "loss", []train.Series{
			metricSeries(recs, "train (EMA)", "", true), metricSeries(recs, "held out", "eval/loss", false)}},
		{"reward_accuracy.png", "reward accuracy", "share of pairs", []train.Series{
			metricSeries(recs, "train (EMA)", "rewards/accuracies", true),
			metricSeries(recs, "held out", "eval/rewards/accuracies", false),
			metricSeries(recs, "held-out ranking accuracy", "eval/ranking_accuracy", false),
			metricSeries(recs, "train pair accuracy (EMA)", "rewards/pair_accuracy", true),
			metricSeries(recs, "held-out pair accuracy", "eval/rewards/pair_accuracy", false)}},
		{"rewards.png", "implicit rewards", "reward", []train.Series{
			metricSeries(recs, "margin (EMA)", "rewards/margins", true),
			metricSeries(recs, "chosen (EMA)", "rewards/chosen", true),
			metricSeries(recs, "rejected (EMA)", "rewards/rejected", true),
			metricSeries(recs, "held-out margin", "eval/rewards/margins", false)}},
		{"kl.png", "KL(policy ‖ reference) per token", "nats/token", []train.Series{
			metricSeries(recs, "sampled, k1", "eval/kl/k1", false),
			metricSeries(recs, "sampled, k3", "eval/kl/k3", false),
			metricSeries(recs, "proxy on training data (EMA)", "kl/proxy", true),
			metricSeries(recs, "proxy on held-out data", "eval/kl/proxy", false)}},
		{"rule.png", "rule satisfaction of fresh samples", "share of samples", []train.Series{
			metricSeries(recs, "satisfied", "eval/rule/rate", false)}},
	}
	for _, p := range plots {
		var drawn []train.Series
		for _, s := range p.series {
			if len(s.X) > 0 {
				drawn = append(drawn, s)
			}
		}
		if len(drawn) == 0 {
			continue
		}
		if err := train.PlotLines(filepath.Join(dir, p.file), p.title, "step", p.y, drawn...); err != nil {
			return fmt.Errorf("align: %w", err)
		}
	}
	return nil
}

// metricSeries returns the values of metric key ("" for the training loss)
// against the step, smoothed by an exponential moving average if ema.
func metricSeries(recs []train.Record, name, key string, ema bool) train.Series {
	s := train.Series{Name: name}
	avg := math.NaN()
	for _, r := range recs {
		v, ok := r.Loss, true
		if key == "eval/loss" {
			if r.ValLoss == nil {
				continue
			}
			v = *r.ValLoss
		} else if key != "" {
			v, ok = r.Extra[key]
		}
		if !ok || math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		if ema {
			if math.IsNaN(avg) {
				avg = v
			} else {
				avg = 0.9*avg + 0.1*v
			}
			v = avg
		}
		s.X = append(s.X, float64(r.Step))
		s.Y = append(s.Y, v)
	}
	return s
}
