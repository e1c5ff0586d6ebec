package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/kiln-ml/kiln/align"
	"github.com/kiln-ml/kiln/kernels"
	"github.com/kiln-ml/kiln/models/data"
	"github.com/kiln-ml/kiln/models/gpt"
	"github.com/kiln-ml/kiln/models/tokenizer"
	"github.com/kiln-ml/kiln/train"
)

func init() {
	register(command{"align", "align a trained model with a preference loss (DPO, IPO, SimPO, ...)", runAlign})
}

// alignFlags are the flags of kiln align.
type alignFlags struct {
	checkpoint, resume, out  string
	loss, lossOptions        string
	data                     string
	evalFraction             float64
	corpus                   string
	rule                     string
	ruleSet                  bool
	pairs, samples, perGroup int
	promptBytes, tokens      int
	temperature              float64
	rounds                   int
	evalPairs, evalSamples   int
	reportSamples            int
	steps, batch             int
	lr                       float64
	optimizer, schedule      string
	warmup                   int
	weightDecay, clip        float64
	evalEvery                int
	seed                     uint64
	threads                  int
	opt                      optimizerFlags
}

// lossList describes the registered losses for -h.
func lossList() string {
	var b strings.Builder
	for _, name := range align.Names() {
		s, _ := align.Lookup(name)
		doc := s.Doc
		if r := []rune(doc); len(r) > 96 {
			doc = string(r[:93]) + "..."
		}
		var opts []string
		for _, o := range s.Options {
			if b, ok := defaultBeta(name); ok && o.Name == "beta" {
				opts = append(opts, fmt.Sprintf("beta=%g*", b))
				continue
			}
			opts = append(opts, fmt.Sprintf("%s=%g", o.Name, o.Default))
		}
		fmt.Fprintf(&b, "  %-22s %-8s %s\n  %-22s          options: %s\n", name, s.Kind, doc, "", strings.Join(opts, ", "))
	}
	fmt.Fprintf(&b, "  * kiln align's default; the loss's own is 0.1, tuned for large models at far smaller learning rates\n")
	return b.String()
}

func parseAlignFlags(args []string, stderr io.Writer) (*alignFlags, error) {
	f := &alignFlags{}
	fs := flag.NewFlagSet("kiln align", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: kiln align [flags]

Aligns a model trained by kiln train with a preference loss. By default it builds its own
preference pairs: prompts cut from the training part of the corpus, the model's own samples
(temperature --temperature, --tokens tokens), ranked by --rule: chosen = a better-scoring
sample, rejected = a worse one of the same prompt; ties are discarded. With --data it trains
on a JSONL file instead: pairs {prompt, chosen, rejected}, labelled completions {prompt,
completion, label}, completions {prompt, completion} or lists {prompt, completions, scores},
converted to what the loss takes. Examples whose prompt fills the context are dropped and
completions are cut to fit it (keep_start), with a count printed.

Before and after, it samples one completion for each of --report-samples held-out prompts
(validation text) and reports how often they satisfy the rule (with a binomial standard
error) and the per-token KL(policy || start model) on those samples. Writes
checkpoint.safetensors (loadable by kiln generate), metrics.jsonl, plots and
report.json/report.md to --out. Ctrl-C saves a checkpoint; --resume continues exactly.

Rules (--rule):
%s

Losses (--loss; kind of data, doc, options for --loss-options):
%s
Flags:
`, indent(align.RuleHelp, "  "), lossList())
		fs.PrintDefaults()
	}
	fs.StringVar(&f.checkpoint, "checkpoint", "runs/tiny/checkpoint.safetensors", "the kiln train checkpoint to align (the starting model and the reference)")
	fs.StringVar(&f.loss, "loss", "sigmoid", "preference loss (see the list above)")
	fs.StringVar(&f.lossOptions, "loss-options", "", `loss hyperparameters, e.g. "beta=0.1,label_smoothing=0.1" (default: the loss's own, except beta where marked * below)`)
	fs.StringVar(&f.data, "data", "", "JSONL preference file (default: build pairs from the model's own samples)")
	fs.Float64Var(&f.evalFraction, "eval-fraction", 0.1, "with --data: share of the examples held out for evaluation")
	fs.StringVar(&f.corpus, "corpus", "", "text the prompts come from (default: the kiln train default corpus)")
	fs.StringVar(&f.rule, "rule", "contains:light", "verifiable rule that ranks samples and is measured in the report")
	fs.IntVar(&f.pairs, "pairs", 384, "self-built training pairs per round (lists for listwise losses)")
	fs.IntVar(&f.samples, "samples", 8, "samples per prompt to rank")
	fs.IntVar(&f.perGroup, "pairs-per-prompt", 0, "most pairs taken from one prompt's samples (0: all, best against worst inwards)")
	fs.IntVar(&f.promptBytes, "prompt-bytes", 32, "prompt length in bytes, cut back to a word boundary")
	fs.IntVar(&f.tokens, "tokens", 24, "tokens per sampled completion")
	fs.Float64Var(&f.temperature, "temperature", 1, "sampling temperature of the training pairs (the report samples at 1)")
	fs.IntVar(&f.rounds, "rounds", 4, "on-policy rounds: fresh pairs are sampled from the current policy every steps/rounds steps (1: offline, from the start model only)")
	fs.IntVar(&f.evalPairs, "eval-pairs", 64, "held-out self-built pairs for evaluation")
	fs.IntVar(&f.evalSamples, "eval-samples", 128, "fresh samples per evaluation during training (rule rate, KL)")
	fs.IntVar(&f.reportSamples, "report-samples", 1000, "fresh samples for the before/after report")
	fs.IntVar(&f.steps, "steps", 120, "optimizer steps")
	fs.IntVar(&f.batch, "batch", 16, "pairs (or examples, lists) per step")
	fs.Float64Var(&f.lr, "lr", 0, "peak learning rate (default 1e-4, or 3e-5 for losses without a reference, which nothing keeps near the start)")
	fs.StringVar(&f.optimizer, "optimizer", "adamw", "optimizer: "+strings.Join(optimizerNames, "|"))
	fs.StringVar(&f.schedule, "schedule", "constant", "learning-rate schedule: "+strings.Join(optimSchedules(), "|"))
	fs.IntVar(&f.warmup, "warmup", -1, "warmup steps (default 5% of --steps)")
	fs.Float64Var(&f.weightDecay, "weight-decay", 0, "decoupled weight decay of 2-D weights")
	fs.Float64Var(&f.clip, "clip", 1, "clip gradients to this global norm (0 disables)")
	fs.IntVar(&f.evalEvery, "eval-every", 0, "evaluate every this many steps (default steps/8)")
	fs.StringVar(&f.out, "out", "", "output directory (default runs/align-<loss>)")
	fs.StringVar(&f.resume, "resume", "", "resume from this alignment checkpoint (or 'auto': the one in --out if any)")
	fs.Uint64Var(&f.seed, "seed", 1, "random seed: same seed, same run")
	fs.IntVar(&f.threads, "threads", runtime.NumCPU(), "threads for the kernels and the sampler")
	f.opt.register(fs)
	if err := fs.Parse(args); err != nil {
		return nil, errUsage
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q (flags start with -)", fs.Args())
	}
	fs.Visit(func(fl *flag.Flag) {
		if fl.Name == "rule" {
			f.ruleSet = true
		}
	})
	return f, f.validate()
}

// optimSchedules lists the schedules kiln align takes (not autolrs, whose
// probes assume a language-modelling loss, nor refined).
func optimSchedules() []string {
	var out []string
	for _, s := range scheduleNames {
		if s != "autolrs" && s != "refined" {
			out = append(out, s)
		}
	}
	return out
}

func (f *alignFlags) validate() error {
	var errs []error
	positive := func(name string, v int) {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("--%s %d must be positive", name, v))
		}
	}
	positive("steps", f.steps)
	positive("batch", f.batch)
	positive("pairs", f.pairs)
	positive("tokens", f.tokens)
	positive("prompt-bytes", f.promptBytes)
	positive("rounds", f.rounds)
	positive("report-samples", f.reportSamples)
	positive("threads", f.threads)
	if f.samples < 2 {
		errs = append(errs, fmt.Errorf("--samples %d: need at least 2 samples per prompt to rank", f.samples))
	}
	if f.evalPairs < 0 || f.evalSamples < 0 || f.perGroup < 0 {
		errs = append(errs, fmt.Errorf("--eval-pairs, --eval-samples and --pairs-per-prompt must not be negative"))
	}
	if !(f.lr >= 0) || math.IsInf(f.lr, 0) {
		errs = append(errs, fmt.Errorf("--lr %v must be a positive number", f.lr))
	}
	if !(f.temperature > 0) {
		errs = append(errs, fmt.Errorf("--temperature %v must be positive", f.temperature))
	}
	if !(f.evalFraction >= 0 && f.evalFraction < 1) {
		errs = append(errs, fmt.Errorf("--eval-fraction %v must be in [0, 1)", f.evalFraction))
	}
	if f.rounds > f.steps {
		errs = append(errs, fmt.Errorf("--rounds %d exceeds --steps %d", f.rounds, f.steps))
	}
	if f.data != "" && f.rounds > 1 {
		errs = append(errs, fmt.Errorf("--rounds %d needs self-built pairs; with --data the data is fixed (use --rounds 1)", f.rounds))
	}
	if _, ok := align.Lookup(f.loss); !ok {
		errs = append(errs, fmt.Errorf("--loss: unknown loss %q; known: %s", f.loss, strings.Join(align.Names(), ", ")))
	}
	if _, err := align.ParseOptions(f.lossOptions); err != nil {
		errs = append(errs, fmt.Errorf("--loss-options: %w", err))
	}
	if _, err := align.ParseRule(f.rule); err != nil {
		errs = append(errs, fmt.Errorf("--rule: %w", err))
	}
	for _, s := range optimSchedules() {
		if s == f.schedule {
			return errors.Join(errs...)
		}
	}
	errs = append(errs, fmt.Errorf("--schedule %q: want one of %s", f.schedule, strings.Join(optimSchedules(), ", ")))
	return errors.Join(errs...)
}

func indent(s, pre string) string {
	return pre + strings.ReplaceAll(s, "\n", "\n"+pre)
}

// alignBeta is kiln align's β for the losses anchored to a reference whose
// own default is TRL's 0.1. TRL tunes that for large models at a learning
// rate of 1e-6; a small model at 1e-4 moves far from its start within a few
// dozen steps at β 0.1 and its samples degenerate, while β 0.5 keeps it
// closer (the loss saturates at a 5x smaller log-ratio margin).
const alignBeta = 0.5

// alignBetas overrides alignBeta per loss: IPO (TRL's, per token) regresses
// the per-token margin to 1/(2β) and never saturates, so β sets how far it
// goes; β 1 (half a nat per token) reached a higher rule rate at a lower
// KL than 0.5 in kiln align's default run, and 2 stopped short.
var alignBetas = map[string]float64{"ipo": 1}

// options returns the loss options: the flag's, over kiln align's defaults
// (alignBeta).
func (f *alignFlags) options() (align.Options, error) {
	o, err := align.ParseOptions(f.lossOptions)
	if err != nil {
		return nil, err
	}
	if _, set := o["beta"]; !set {
		if b, ok := defaultBeta(f.loss); ok {
			o["beta"] = b
		}
	}
	return o, nil
}

// defaultBeta returns kiln align's β for a loss, if it overrides the loss's.
func defaultBeta(loss string) (float64, bool) {
	if !usesAlignBeta(loss) {
		return 0, false
	}
	if b, ok := alignBetas[loss]; ok {
		return b, true
	}
	return alignBeta, true
}

// usesAlignBeta reports whether kiln align overrides the loss's default β.
func usesAlignBeta(loss string) bool {
	s, ok := align.Lookup(loss)
	if !ok || !s.Reference {
		return false
	}
	for _, o := range s.Options {
		if o.Name == "beta" && o.Default == 0.1 {
			return true
		}
	}
	return false
}

func runAlign(ctx context.Context, args []string) error {
	f, err := parseAlignFlags(args, os.Stderr)
	if err != nil {
		return err
	}
	kernels.SetThreads(f.threads)
	runtime.GOMAXPROCS(f.threads)
	if f.out == "" {
		f.out = filepath.Join("runs", "align-"+f.loss)
	}
	if f.warmup < 0 {
		f.warmup = f.steps / 20
	}
	if f.lr == 0 {
		f.lr = 1e-4
		if s, _ := align.Lookup(f.loss); !s.Reference {
			f.lr = 3e-5
		}
	}
	opts, err := f.options()
	if err != nil {
		return err
	}
	loss, err := align.New(f.loss, opts)
	if err != nil {
		return err
	}
	kind, _, err := align.LossInfo(loss)
	if err != nil {
		return err
	}
	rule, err := align.ParseRule(f.rule)
	if err != nil {
		return err
	}
	policy, _, tok, err := openModel(f.checkpoint)
	if err != nil {
		return err
	}
	if n := len(tok.Encode(strings.Repeat("a", f.promptBytes))) + f.tokens; n > policy.Config.Context {
		return fmt.Errorf("--prompt-bytes %d and --tokens %d need %d positions; the model's context is %d", f.promptBytes, f.tokens, n, policy.Config.Context)
	}
	ds, err := data.Load(f.corpus, tok, 0.1)
	if err != nil {
		return err
	}
	trainText, valText := tok.Decode(ds.Train), tok.Decode(ds.Val)
	resume := f.resume
	if resume == "auto" {
		resume = filepath.Join(f.out, "checkpoint.safetensors")
		if _, err := os.Stat(resume); err != nil {
			resume = ""
		}
	}
	mcfg := policy.Config
	fmt.Fprintf(os.Stderr, "kiln align: %s loss (%s data) on %s: %.2fM parameters (d=%d, %d layers, context %d)\n",
		loss.Name(), kind, f.checkpoint, float64(policy.NumParams())/1e6, mcfg.Dim, mcfg.Layers, mcfg.Context)

	opt, err := f.opt.build(f.optimizer, policy.Parameters(), f.lr, f.weightDecay)
	if err != nil {
		return err
	}
	sched, err := buildSchedule(f.schedule, f.steps, f.warmup, f.out, &f.opt, f.optimizer)
	if err != nil {
		return err
	}
	evalEvery := f.evalEvery
	if evalEvery <= 0 {
		evalEvery = max(1, f.steps/8)
	}
	tcfg := align.TrainerConfig{
		Steps: f.steps, Batch: f.batch, LR: f.lr, Schedule: sched, ClipNorm: f.clip,
		EvalEvery: evalEvery, OutDir: f.out, Seed: f.seed, Tokenizer: tok.Name(), SkipNonFinite: f.opt.skipNonFinite,
	}
	sampleCfg := align.SampleConfig{Tokens: f.tokens, Temperature: float32(f.temperature)}
	selfBuilt := f.data == ""
	build := selfPlay{f: f, tok: tok, rule: rule, kind: kind, sample: sampleCfg}

	// Held-out prompts for the report and the probe during training.
	reportPrompts, err := align.CorpusPrompts(valText, f.reportSamples+f.evalSamples, f.promptBytes, f.seed^0x7265706f7274)
	if err != nil {
		return fmt.Errorf("report prompts from the validation text: %w", err)
	}
	encode := func(ps []string) [][]int {
		out := make([][]int, len(ps))
		for i, p := range ps {
			out[i] = tok.Encode(p)
		}
		return out
	}
	// With --data the rule is measured only when asked for.
	measured := rule
	if !selfBuilt && !f.ruleSet {
		measured = nil
	}
	var trainData, evalData *align.TrainData
	start := time.Now()
	if selfBuilt {
		tcfg.RefreshEvery = 0
		if f.rounds > 1 {
			tcfg.RefreshEvery = (f.steps + f.rounds - 1) / f.rounds
		}
	} else {
		all, rep, err := align.ReadData(f.data, kind, tok, align.TokenizeConfig{Context: mcfg.Context, Vocab: mcfg.Vocab})
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "  data: %s: %s\n", f.data, rep)
		trainData, evalData = all.Split(f.evalFraction, f.seed)
		if trainData.Len() == 0 {
			return fmt.Errorf("%s: nothing left to train on after holding out --eval-fraction %v", f.data, f.evalFraction)
		}
		if evalData.Len() == 0 {
			evalData = nil
		}
	}
	if selfBuilt && f.evalPairs > 0 {
		// Held-out pairs from the start model on validation prompts.
		if evalData, err = build.data(ctx, policy, valText, f.evalPairs, f.seed^0x6576616c, "held-out pairs"); err != nil {
			return err
		}
	}
	tr, err := align.NewTrainer(tcfg, policy, loss, opt, trainData, evalData)
	if err != nil {
		return err
	}
	if f.evalSamples > 0 {
		tr.Probe = &align.Probe{Prompts: encode(reportPrompts[f.reportSamples:]), Rule: measured, Tokenizer: tok,
			Sample: align.SampleConfig{Tokens: f.tokens, Temperature: 1, Seed: f.seed ^ 0x70726f6265}}
	}
	tr.Meta["align.start"], tr.Meta["optimizer"] = f.checkpoint, f.optimizer
	if measured != nil {
		tr.Meta["align.rule"] = measured.Name()
	}
	if resume != "" {
		if err := tr.Resume(resume); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "  resuming from %s at step %d\n", resume, tr.Step())
	}
	report := align.Probe{Prompts: encode(reportPrompts[:f.reportSamples]), Rule: measured, Tokenizer: tok, Examples: 5,
		Sample: align.SampleConfig{Tokens: f.tokens, Temperature: 1, Seed: f.seed ^ 0x6166746572}}
	t0 := time.Now()
	before, err := report.Run(ctx, tr.Ref.Model, tr.Ref)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "  before: %s (%s)\n", describeProbe(before), time.Since(t0).Round(time.Second))
	if selfBuilt {
		if tr.Data() == nil {
			d, err := build.data(ctx, tr.Ref.Model, trainText, f.pairs, f.seed, "training pairs")
			if err != nil {
				return err
			}
			if err := tr.SetData(d); err != nil {
				return err
			}
		}
		tr.Refresh = func(ctx context.Context, round int) (*align.TrainData, error) {
			return build.data(ctx, tr.Policy, trainText, f.pairs, f.seed+uint64(round)*0x1000193, fmt.Sprintf("round %d pairs from the policy", round+1))
		}
	}
	fmt.Fprintf(os.Stderr, "  %d steps x %d, %s lr %.2g (%s schedule, %d warmup), clip %g, %d threads, %s kernels\n",
		f.steps, f.batch, f.optimizer, f.lr, f.schedule, f.warmup, f.clip, f.threads, kernels.Path())

	bar := newProgress(f.steps, tr.Step(), "aligning")
	var lastEval align.Metrics
	tr.OnEval = func(_ int, m align.Metrics) { lastEval = m }
	tr.OnStep = func(r train.Record) {
		status := fmt.Sprintf("loss %.3f", r.Loss)
		if v, ok := r.Extra["rewards/accuracies"]; ok {
			status += fmt.Sprintf(" acc %.2f margin %.2f", v, r.Extra["rewards/margins"])
		}
		if v, ok := lastEval["rule/rate"]; ok {
			status += fmt.Sprintf(" rule %.2f", v)
		}
		if v, ok := lastEval["kl/k1"]; ok {
			status += fmt.Sprintf(" kl %.3f", v)
		}
		bar.update(r.Step, status)
	}
	t1 := time.Now()
	res, err := tr.Run(ctx)
	bar.finish()
	if errors.Is(err, context.Canceled) {
		fmt.Fprintf(os.Stderr, "interrupted at step %d; checkpoint saved to %s\nresume with: kiln align --resume %s (and the same flags)\n",
			res.Steps, tr.CheckpointPath(), tr.CheckpointPath())
		return err
	}
	if err != nil {
		return err
	}
	trainTime := time.Since(t1)
	after, err := report.Run(ctx, tr.Policy, tr.Ref)
	if err != nil {
		return err
	}
	rep := alignReport{
		Loss: loss.Name(), Options: opts, Rule: before.Rule, Start: f.checkpoint, Data: f.data, Kind: kind.String(),
		Steps: res.Steps, Batch: f.batch, LR: f.lr, Optimizer: f.optimizer, Rounds: f.rounds, Examples: tr.Data().Len(),
		Before: before, After: after, Eval: res.Eval,
		TrainSeconds: trainTime.Seconds(), TotalSeconds: time.Since(start).Seconds(), Threads: f.threads,
		Command: strings.TrimSpace("kiln align " + strings.Join(args, " ")),
	}
	if selfBuilt {
		rep.Data = fmt.Sprintf("self-built: %d prompts of ~%d bytes from %s x %d samples of %d tokens", f.pairs, f.promptBytes, ds.Path, f.samples, f.tokens)
	}
	if err := rep.write(f.out); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "done in %s (training %s): loss %.3f\n", time.Since(start).Round(time.Second), trainTime.Round(time.Second), res.Loss)
	fmt.Fprintf(os.Stderr, "  before: %s\n  after:  %s\n", describeProbe(before), describeProbe(after))
	fmt.Fprintf(os.Stderr, "  wrote %s, %s, %s, plots and report.md\n", tr.CheckpointPath(), tr.MetricsPath(), filepath.Join(f.out, "report.json"))
	fmt.Print(rep.markdown())
	return nil
}

func describeProbe(r align.ProbeResult) string {
	if r.Rule == "" {
		return fmt.Sprintf("KL %.4f nats/token on %d fresh samples", r.KL, r.Samples)
	}
	return fmt.Sprintf("%s satisfied by %d/%d fresh samples = %.1f%% ± %.1f%%, mean score %.3f, KL %.4f nats/token",
		r.Rule, r.Satisfied, r.Samples, 100*r.Rate, 100*r.RateStdErr, r.MeanScore, r.KL)
}

// selfPlay builds preference data from a model's own samples.
type selfPlay struct {
	f      *alignFlags
	tok    tokenizer.Tokenizer
	rule   align.Rule
	kind   align.Kind
	sample align.SampleConfig
}

// data samples --samples completions for prompts cut from text until n
// examples (pairs, or lists for listwise losses) are found, or the prompts
// run out, and converts them to the loss's kind.
func (s selfPlay) data(ctx context.Context, m *gpt.Model, text string, n int, seed uint64, what string) (*align.TrainData, error) {
	t0 := time.Now()
	cfg := s.sample
	cfg.Seed = seed
	// Enough candidate prompts for a rare rule, sampled chunk by chunk.
	var prompts []string
	var err error
	for want := 16 * n; want >= n; want /= 2 {
		if prompts, err = align.CorpusPrompts(text, want, s.f.promptBytes, seed); err == nil {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	var groups []align.Group
	found, used := 0, 0
	for used < len(prompts) && found < n {
		chunk := max(32, n-found)
		hi := min(used+chunk, len(prompts))
		c := cfg
		c.Seed = seed ^ uint64(used)*0x9e3779b97f4a7c15 // chunks draw disjoint seeds
		g, err := align.SampleGroups(ctx, m, s.tok, prompts[used:hi], s.f.samples, s.rule, c)
		if err != nil {
			return nil, err
		}
		groups = append(groups, g...)
		used = hi
		found = countExamples(s.kind, groups, s.f.perGroup)
	}
	if found == 0 {
		return nil, fmt.Errorf("%s: none of %d prompts x %d samples gave samples that %s ranks differently; try another rule or more samples", what, used, s.f.samples, s.rule.Name())
	}
	d := align.DataFromGroups(s.kind, groups, s.f.perGroup)
	d = truncateData(d, n)
	fmt.Fprintf(os.Stderr, "  %s: %d from %d prompts x %d samples (%s)\n", what, d.Len(), used, s.f.samples, time.Since(t0).Round(time.Second))
	return d, nil
}

func countExamples(kind align.Kind, groups []align.Group, perGroup int) int {
	if kind == align.ListwiseData {
		return len(align.ListsFromGroups(groups))
	}
	return len(align.PairsFromGroups(groups, perGroup))
}

// truncateData keeps the first n pairs (or lists); unpaired and forget
// data, two items per pair, keep 2n.
func truncateData(d *align.TrainData, n int) *align.TrainData {
	d.Pairs = d.Pairs[:min(len(d.Pairs), n)]
	d.Unpaired = d.Unpaired[:min(len(d.Unpaired), 2*n)]
	if d.Kind == align.ForgetData {
		d.Unpaired = d.Unpaired[:min(len(d.Unpaired), n)]
	}
	d.Retain = d.Retain[:min(len(d.Retain), n)]
	d.Lists = d.Lists[:min(len(d.Lists), n)]
	return d
}

// alignReport is what report.json holds.
type alignReport struct {
	Loss         string            `json:"loss"`
	Options      align.Options     `json:"loss_options"`
	Kind         string            `json:"kind"`
	Rule         string            `json:"rule,omitempty"`
	Start        string            `json:"start_checkpoint"`
	Data         string            `json:"data"`
	Steps        int               `json:"steps"`
	Batch        int               `json:"batch"`
	LR           float64           `json:"lr"`
	Optimizer    string            `json:"optimizer"`
	Rounds       int               `json:"rounds"`
	Examples     int               `json:"examples_last_round"`
	Before       align.ProbeResult `json:"before"`
	After        align.ProbeResult `json:"after"`
	Eval         align.Metrics     `json:"final_eval"`
	TrainSeconds float64           `json:"train_seconds"`
	TotalSeconds float64           `json:"total_seconds"`
	Threads      int               `json:"threads"`
	Command      string            `json:"command"`
}

func (r *alignReport) write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(nanToNull(r), "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "report.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "report.md"), []byte(r.markdown()), 0o644)
}

// nanToNull round-trips v through a map, writing non-finite numbers as null
// (encoding/json refuses them).
func nanToNull(r *alignReport) any {
	fix := func(p *align.ProbeResult) align.ProbeResult {
		q := *p
		for _, x := range []*float64{&q.KL, &q.KLStdErr, &q.KL3, &q.MeanScoreErr} {
			if math.IsNaN(*x) || math.IsInf(*x, 0) {
				*x = 0
			}
		}
		return q
	}
	c := *r
	c.Before, c.After = fix(&r.Before), fix(&r.After)
	c.Eval = align.Metrics{}
	for k, v := range r.Eval {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			c.Eval[k] = v
		}
	}
	return c
}

func (r *alignReport) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# kiln align: %s\n\n", r.Loss)
	fmt.Fprintf(&b, "Start: %s. Data: %s. %d steps x %d, %s lr %g, %d round(s). Loss options: %v.\n\n",
		r.Start, r.Data, r.Steps, r.Batch, r.Optimizer, r.LR, r.Rounds, r.Options)
	fmt.Fprintf(&b, "Fresh samples: one completion of %d tokens (temperature 1) for each of %d held-out prompts.\n\n",
		r.After.Tokens/max(r.After.Samples, 1), r.After.Samples)
	row := func(name string, p align.ProbeResult) {
		fmt.Fprintf(&b, "| %s | %d/%d | %.1f%% ± %.1f%% | %.3f ± %.3f | %.4f ± %.4f | %.4f |\n",
			name, p.Satisfied, p.Samples, 100*p.Rate, 100*p.RateStdErr, p.MeanScore, p.MeanScoreErr, p.KL, p.KLStdErr, p.KL3)
	}
	if r.Rule != "" {
		fmt.Fprintf(&b, "| model | `%s` satisfied | rate ± s.e. | mean score | KL to start (nats/token, k1 ± s.e.) | KL k3 |\n|---|---|---|---|---|---|\n", r.Rule)
	} else {
		fmt.Fprintf(&b, "| model | KL to start (nats/token, k1 ± s.e.) | KL k3 |\n|---|---|---|\n")
		row = func(name string, p align.ProbeResult) {
			fmt.Fprintf(&b, "| %s | %.4f ± %.4f | %.4f |\n", name, p.KL, p.KLStdErr, p.KL3)
		}
	}
	row("start", r.Before)
	row("aligned", r.After)
	if len(r.Eval) > 0 {
		fmt.Fprintf(&b, "\nFinal held-out evaluation:")
		for _, k := range []string{"rewards/accuracies", "rewards/margins", "ranking_accuracy", "kl/proxy", "loss"} {
			if v, ok := r.Eval[k]; ok {
				fmt.Fprintf(&b, " %s %.3f;", k, v)
			}
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "\nWall time: %.0f s in all, %.0f s training, %d threads. Command: `%s`\n", r.TotalSeconds, r.TrainSeconds, r.Threads, r.Command)
	for _, ex := range []struct {
		name string
		p    align.ProbeResult
	}{{"start", r.Before}, {"aligned", r.After}} {
		if len(ex.p.Examples) == 0 {
			continue
		}
		if r.Rule != "" {
			fmt.Fprintf(&b, "\nSamples of the %s model ([x]: the rule holds):\n\n", ex.name)
		} else {
			fmt.Fprintf(&b, "\nSamples of the %s model:\n\n", ex.name)
		}
		for _, e := range ex.p.Examples {
			mark := "- "
			if r.Rule != "" {
				mark = "- [ ] "
				if e.Satisfied {
					mark = "- [x] "
				}
			}
			fmt.Fprintf(&b, "%s%q → %q\n", mark, e.Prompt, e.Completion)
		}
	}
	return b.String()
}
