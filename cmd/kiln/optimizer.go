package main

import (
	"flag"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/kiln-ml/kiln/autograd"
	"github.com/kiln-ml/kiln/optim"
	"github.com/kiln-ml/kiln/optim/autolrs"
	"github.com/kiln-ml/kiln/train"
)

var (
	optimizerNames = append(optim.Names(), optim.LowRankKinds()...)
	scheduleNames  = append(optim.ScheduleNames(), "autolrs")
)

// optimizerFlags are the settings of optimizers beyond --lr and --weight-decay.
type optimizerFlags struct {
	skipNonFinite bool
	refineFrom    string
	floor         float64
	lrMin, lrMax  float64
	autolrsStage  int
	rank, gap     int
	scale         float64
	projection    string
	randomized    bool
}

func (o *optimizerFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&o.skipNonFinite, "skip-nonfinite", false, "skip steps whose gradients are not finite instead of stopping")
	fs.StringVar(&o.refineFrom, "refine-from", "", "metrics.jsonl of a previous run whose gradient norms shape --schedule refined (default: the one in --out)")
	fs.Float64Var(&o.floor, "lr-floor", 0, "final learning rate as a fraction of the peak (cosine, linear, wsd)")
	fs.IntVar(&o.rank, "rank", 32, "galore, natural-galore, fira: rank of the gradient projection")
	fs.IntVar(&o.gap, "update-gap", 200, "galore, natural-galore, fira: steps between projector refreshes")
	fs.Float64Var(&o.scale, "galore-scale", 0.25, "galore, natural-galore, fira: scale alpha of the projected update")
	fs.StringVar(&o.projection, "projection", "std", "galore, natural-galore, fira: projection type (std, reverse_std, left, right, full)")
	fs.BoolVar(&o.randomized, "randomized-svd", false, "galore, natural-galore, fira: refresh projectors with a randomized SVD")
	fs.Float64Var(&o.lrMin, "lr-min", 1e-4, "autolrs: lowest learning rate searched")
	fs.Float64Var(&o.lrMax, "lr-max", 1e-2, "autolrs: highest learning rate searched")
	fs.IntVar(&o.autolrsStage, "autolrs-stage", 0, "autolrs: steps of the first stage, doubling per stage (default steps/8); probes take as many again")
}

// autoLRS returns the AutoLRS settings for a run of steps.
func (o *optimizerFlags) autoLRS(steps int, seed uint64) *autolrs.Config {
	stage := o.autolrsStage
	if stage <= 0 {
		stage = max(30, steps/8)
	}
	return &autolrs.Config{MinLR: o.lrMin, MaxLR: o.lrMax, StageSteps: stage, Seed: seed}
}

// build makes the named optimizer over params.
func (o *optimizerFlags) build(name string, params []*autograd.Var, lr, wd float64) (optim.Optimizer, error) {
	var opt optim.Optimizer
	var err error
	if slices.Contains(optim.LowRankKinds(), name) {
		opt, err = optim.NewLowRank(name, params, optim.LowRankConfig{
			LR: lr, WeightDecay: wd, Rank: o.rank, UpdateGap: o.gap, Scale: o.scale,
			Projection: o.projection, RandomizedSVD: o.randomized,
		})
	} else {
		opt, err = optim.New(name, params, lr, wd)
	}
	if err != nil {
		return nil, fmt.Errorf("--optimizer %s: %w", name, err)
	}
	if o.skipNonFinite {
		return optim.SkipNonFinite(opt), nil
	}
	return opt, nil
}

// buildSchedule makes the named schedule; refined reads the gradient norms
// of an earlier run.
func buildSchedule(name string, steps, warmup int, outDir string, o *optimizerFlags, optimizer string) (optim.Schedule, error) {
	if name == "autolrs" {
		return nil, nil // the trainer's AutoLRS controller sets the rate
	}
	opts := optim.ScheduleOptions{Floor: o.floor}
	if name == "refined" {
		path := o.refineFrom
		if path == "" {
			path = filepath.Join(outDir, "metrics.jsonl")
		}
		recs, err := train.ReadMetrics(path)
		if err != nil {
			return nil, fmt.Errorf("--schedule refined needs the gradient norms of an earlier run (--refine-from metrics.jsonl): %w", err)
		}
		// Adam- and sign-type optimizers use l1 norms to the power 1, SGD l2 norms squared.
		opts.NormPower = 1
		if optimizer == "sgd" {
			opts.NormPower = 2
		}
		opts.Smooth = true
		for _, r := range recs {
			if opts.NormPower == 1 {
				opts.Norms = append(opts.Norms, r.GradNormL1)
			} else {
				opts.Norms = append(opts.Norms, r.GradNorm)
			}
		}
		if len(opts.Norms) < steps {
			return nil, fmt.Errorf("--schedule refined: %s has gradient norms for %d steps, this run has %d", path, len(opts.Norms), steps)
		}
		opts.Norms = opts.Norms[:steps]
	}
	s, err := optim.ParseSchedule(name, steps, warmup, opts)
	if err != nil {
		return nil, fmt.Errorf("--schedule %s: %w", name, err)
	}
	return s, nil
}
