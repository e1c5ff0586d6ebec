package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/kiln-ml/kiln/kernels"
	"github.com/kiln-ml/kiln/models/data"
	"github.com/kiln-ml/kiln/models/gpt"
	"github.com/kiln-ml/kiln/models/tokenizer"
	"github.com/kiln-ml/kiln/train"
)

func init() {
	register(command{"train", "train a GPT on a text corpus", runTrain})
}

// trainFlags are the flags of kiln train.
type trainFlags struct {
	model                string
	dim, layers, heads   int
	ctx                  int
	dropout              float64
	steps, batch         int
	lr                   float64
	optimizer, schedule  string
	warmup               int
	weightDecay, clip    float64
	data, out, resume    string
	seed                 uint64
	threads              int
	evalEvery, ckptEvery int
	sampleTokens         int
	prompt               string
	opt                  optimizerFlags
}

func parseTrainFlags(args []string) (*trainFlags, error) {
	f := &trainFlags{}
	fs := flag.NewFlagSet("kiln train", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: kiln train [flags]\n\nTrains a byte-level GPT on a text corpus (default: Isaac Newton's Opticks, which ships with Go)\nand writes a checkpoint, metrics.jsonl and loss.png to --out. Ctrl-C saves a checkpoint;\n--resume continues the run exactly.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&f.model, "model", "tiny", "model size: tiny (d=128, 4 layers) or small (d=384, 6 layers)")
	fs.IntVar(&f.dim, "dim", 0, "override the embedding width")
	fs.IntVar(&f.layers, "layers", 0, "override the number of transformer blocks")
	fs.IntVar(&f.heads, "heads", 0, "override the number of attention heads")
	fs.IntVar(&f.ctx, "context", 0, "override the context length (tokens per sequence)")
	fs.Float64Var(&f.dropout, "dropout", 0, "dropout probability")
	fs.IntVar(&f.steps, "steps", 1600, "optimizer steps")
	fs.IntVar(&f.batch, "batch", 16, "sequences per step")
	fs.Float64Var(&f.lr, "lr", 4e-3, "peak learning rate")
	fs.StringVar(&f.optimizer, "optimizer", "adamw", "optimizer: "+strings.Join(optimizerNames, "|"))
	fs.StringVar(&f.schedule, "schedule", "linear", "learning-rate schedule: "+strings.Join(scheduleNames, "|"))
	fs.IntVar(&f.warmup, "warmup", -1, "warmup steps (default 5% of --steps)")
	fs.Float64Var(&f.weightDecay, "weight-decay", 0.1, "decoupled weight decay of 2-D weights (biases, norms and embeddings are exempt)")
	fs.Float64Var(&f.clip, "clip", 1, "clip gradients to this global norm (0 disables)")
	fs.StringVar(&f.data, "data", "", "training text file (default: $GOROOT/src/testdata/Isaac.Newton-Opticks.txt)")
	fs.StringVar(&f.out, "out", "", "output directory (default runs/<model>)")
	fs.StringVar(&f.resume, "resume", "", "resume from this checkpoint (or 'auto': the one in --out if any)")
	fs.Uint64Var(&f.seed, "seed", 1, "random seed: same seed, same run")
	fs.IntVar(&f.threads, "threads", runtime.NumCPU(), "threads for the kernels")
	fs.IntVar(&f.evalEvery, "eval-every", 0, "validate every this many steps (default steps/10)")
	fs.IntVar(&f.ckptEvery, "checkpoint-every", 0, "checkpoint every this many steps (default: when validating)")
	fs.IntVar(&f.sampleTokens, "sample", 300, "tokens to sample from the trained model at the end (0: none)")
	fs.StringVar(&f.prompt, "prompt", "The light ", "prompt of the sample printed at the end")
	f.opt.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, errUsage
		}
		return nil, errUsage
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q (flags start with -)", fs.Args())
	}
	return f, nil
}

func (f *trainFlags) modelConfig() (gpt.Config, error) {
	cfg, err := gpt.Preset(f.model)
	if err != nil {
		return cfg, err
	}
	if f.dim > 0 {
		cfg.Dim = f.dim
	}
	if f.layers > 0 {
		cfg.Layers = f.layers
	}
	if f.heads > 0 {
		cfg.Heads = f.heads
	}
	if f.ctx > 0 {
		cfg.Context = f.ctx
	}
	cfg.Dropout = float32(f.dropout)
	return cfg, cfg.Validate()
}

func runTrain(ctx context.Context, args []string) error {
	f, err := parseTrainFlags(args)
	if err != nil {
		return err
	}
	if f.threads < 1 {
		return fmt.Errorf("--threads %d must be at least 1", f.threads)
	}
	kernels.SetThreads(f.threads)
	runtime.GOMAXPROCS(max(f.threads, 1))
	if f.out == "" {
		f.out = filepath.Join("runs", f.model)
	}
	if f.warmup < 0 {
		f.warmup = f.steps / 20
	}
	var tok tokenizer.ByteLevel
	ds, err := data.Load(f.data, tok, 0.1)
	if err != nil {
		return err
	}

	resume := f.resume
	if resume == "auto" {
		resume = filepath.Join(f.out, "checkpoint.safetensors")
		if _, err := os.Stat(resume); err != nil {
			resume = ""
		}
	}
	mcfg, err := f.modelConfig()
	if err != nil {
		return err
	}
	if resume != "" {
		// The checkpoint decides the model's shape.
		c, err := train.OpenCheckpoint(resume)
		if err != nil {
			return err
		}
		if mcfg, err = checkpointConfig(c); err != nil {
			return err
		}
	}
	model, err := gpt.New(mcfg, rand.New(rand.NewPCG(f.seed, 0x6d6f64656c)))
	if err != nil {
		return err
	}
	opt, err := f.opt.build(f.optimizer, model.Parameters(), f.lr, f.weightDecay)
	if err != nil {
		return err
	}
	sched, err := buildSchedule(f.schedule, f.steps, f.warmup, f.out, &f.opt, f.optimizer)
	if err != nil {
		return err
	}
	tcfg := train.Config{
		Steps: f.steps, Batch: f.batch, Context: mcfg.Context, LR: f.lr, Schedule: sched, ClipNorm: f.clip,
		EvalEvery: f.evalEvery, CheckpointEvery: f.ckptEvery, OutDir: f.out, Seed: f.seed,
	}
	if f.schedule == "autolrs" {
		tcfg.AutoLRS = f.opt.autoLRS(f.steps, f.seed)
	}
	tr, err := train.New(tcfg, model, opt, ds)
	if err != nil {
		return err
	}
	for k, v := range modelMeta(mcfg, tok) {
		tr.Meta[k] = v
	}
	tr.Meta["optimizer"] = f.optimizer
	if resume != "" {
		if err := tr.Resume(resume); err != nil {
			return err
		}
	}

	baseline, err := data.UnigramCrossEntropy(ds.Train, ds.Val, ds.VocabSize)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "kiln train: %s model, %.2fM parameters (d=%d, %d layers, %d heads, context %d)\n",
		f.model, float64(model.NumParams())/1e6, mcfg.Dim, mcfg.Layers, mcfg.Heads, mcfg.Context)
	fmt.Fprintf(os.Stderr, "  data: %s, %d train / %d validation tokens; unigram baseline %.3f nats/token\n",
		ds.Path, len(ds.Train), len(ds.Val), baseline)
	fmt.Fprintf(os.Stderr, "  %d steps x %d x %d tokens, %s lr %.2g (%s schedule, %d warmup), %d threads, %s kernels\n",
		f.steps, f.batch, mcfg.Context, f.optimizer, f.lr, f.schedule, f.warmup, f.threads, kernels.Path())
	if resume != "" {
		fmt.Fprintf(os.Stderr, "  resuming from %s at step %d\n", resume, tr.Step())
	}

	bar := newProgress(f.steps, tr.Step(), "training")
	lastVal := math.NaN()
	tr.OnStep = func(r train.Record) {
		if r.ValLoss != nil {
			lastVal = *r.ValLoss
		}
		status := fmt.Sprintf("loss %.3f", r.Loss)
		if !math.IsNaN(lastVal) {
			status += fmt.Sprintf(" val %.3f", lastVal)
		}
		status += fmt.Sprintf(" lr %.2e %s tok/s", r.LR, humanRate(r.TokensPerSec))
		bar.update(r.Step, status)
	}
	start := time.Now()
	res, err := tr.Run(ctx)
	bar.finish()
	if errors.Is(err, context.Canceled) {
		// Run returns ctx.Err() itself when the interruption checkpoint was
		// saved, and joins the save's error to it when it was not.
		if err == ctx.Err() {
			fmt.Fprintf(os.Stderr, "interrupted at step %d; checkpoint saved to %s\nresume with: kiln train --resume %s (and the same flags)\n",
				res.Steps, tr.CheckpointPath(), tr.CheckpointPath())
		} else {
			fmt.Fprintf(os.Stderr, "interrupted at step %d, but its checkpoint could not be saved (the error follows); %s\n",
				res.Steps, lastCheckpoint(tr.CheckpointPath()))
		}
		return err
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "done in %s: validation loss %.3f nats/token (unigram baseline %.3f), train loss %.3f, %s tokens/s\n",
		time.Since(start).Round(time.Second), res.ValLoss, baseline, res.TrainLoss, humanRate(res.TokensPerSec))
	fmt.Fprintf(os.Stderr, "  wrote %s, %s, %s\n", tr.CheckpointPath(), tr.MetricsPath(), filepath.Join(f.out, "loss.png"))
	if f.sampleTokens > 0 {
		text, err := sampleText(model, tok, f.prompt, f.sampleTokens, 0.8, f.seed)
		if err != nil {
			return err
		}
		fmt.Printf("\n--- sample (temperature 0.8) ---\n%s%s\n", f.prompt, text)
	}
	return nil
}

// lastCheckpoint says which checkpoint a run can resume from after a
// failed save, which leaves the previous file intact.
func lastCheckpoint(path string) string {
	c, err := train.OpenCheckpoint(path)
	if err != nil {
		return "no earlier checkpoint can be resumed"
	}
	return fmt.Sprintf("the last checkpoint saved is at step %d in %s; resume with: kiln train --resume %s (and the same flags)", c.Step, path, path)
}

func humanRate(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

// sampleText continues prompt with n tokens.
func sampleText(m *gpt.Model, tok tokenizer.Tokenizer, prompt string, n int, temperature float32, seed uint64) (string, error) {
	ids, err := m.Generate(tok.Encode(prompt), gpt.GenerateConfig{MaxTokens: n, Sampling: gpt.Sampling{Temperature: temperature}, Seed: seed})
	if err != nil {
		return "", err
	}
	return string([]rune(tok.Decode(ids))), nil
}
