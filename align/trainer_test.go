package align

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/kiln-ml/kiln/autograd"
	"github.com/kiln-ml/kiln/models/gpt"
	"github.com/kiln-ml/kiln/models/tokenizer"
	"github.com/kiln-ml/kiln/optim"
	"github.com/kiln-ml/kiln/train"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// toyPairs is a learnable preference set: random prompts, "yes" preferred
// over "no" right after prompts that end with a vowel and the other way
// round otherwise.
func toyPairs(t testing.TB, n int, seed uint64) []PairTokens {
	rng := rand.New(rand.NewPCG(seed, 1))
	var pairs []Pair
	for i := range n {
		b := make([]byte, 3+rng.IntN(4))
		for j := range b {
			b[j] = "aeioubcdfg"[rng.IntN(10)]
		}
		p := Pair{Prompt: string(b), Chosen: "yes", Rejected: "no", Line: i + 1}
		if !isVowel(b[len(b)-1]) {
			p.Chosen, p.Rejected = p.Rejected, p.Chosen
		}
		pairs = append(pairs, p)
	}
	out, _, err := TokenizePairs(pairs, tokenizer.ByteLevel{}, TokenizeConfig{Context: tinyConfig.Context, Vocab: tinyConfig.Vocab})
	require.NoError(t, err)
	return out
}

func isVowel(b byte) bool { return b == 'a' || b == 'e' || b == 'i' || b == 'o' || b == 'u' }

func newToyTrainer(t *testing.T, loss string, opts Options, cfg TrainerConfig, data, eval *TrainData) *Trainer {
	m := tinyModel(t, 1)
	l := mustNew(t, loss, opts)
	opt, err := optim.New("adamw", m.Parameters(), cfg.LR, 0)
	require.NoError(t, err)
	tr, err := NewTrainer(cfg, m, l, opt, data, eval)
	require.NoError(t, err)
	return tr
}

// TestTrainerLearnsToyPreferences: DPO starts at ln 2 (policy = reference)
// and learns the toy preferences; held-out reward and ranking accuracy
// follow, and the run writes its metrics, plots and a checkpoint that
// loads like kiln train's.
func TestTrainerLearnsToyPreferences(t *testing.T) {
	dir := t.TempDir()
	cfg := TrainerConfig{Steps: 40, Batch: 8, LR: 1e-2, ClipNorm: 1, EvalEvery: 20, OutDir: dir, Seed: 3}
	tr := newToyTrainer(t, "sigmoid", Options{"beta": 0.5}, cfg, DataFromPairs(PairedData, toyPairs(t, 48, 1)),
		DataFromPairs(PairedData, toyPairs(t, 24, 2)))
	var recs []train.Record
	tr.OnStep = func(r train.Record) { recs = append(recs, r) }
	before, err := tr.Evaluate(context.Background())
	require.NoError(t, err)
	res, err := tr.Run(context.Background())
	require.NoError(t, err)
	require.Len(t, recs, 40)
	assert.InDelta(t, math.Ln2, recs[0].Loss, 1e-6, "step 1: policy = reference")
	assert.Zero(t, recs[0].Extra["rewards/accuracies"], "ties count as wrong")
	first, last := 0.0, 0.0
	for i := range 5 {
		first += recs[i].Loss / 5
		last += recs[len(recs)-1-i].Loss / 5
	}
	assert.Less(t, last, 0.5*first, "the loss falls: %.3f -> %.3f", first, last)
	assert.InDelta(t, res.Loss, mean([]float64{recs[36].Loss, recs[37].Loss, recs[38].Loss, recs[39].Loss}), 1e-9)
	assert.Greater(t, res.Eval["rewards/accuracies"], 0.9)
	assert.Greater(t, res.Eval["rewards/margins"], 0.5)
	assert.Greater(t, res.Eval["ranking_accuracy"], before["ranking_accuracy"])
	assert.Greater(t, res.Eval["kl/proxy"], before["kl/proxy"]-1, "the proxy is finite")
	for _, k := range []string{"rewards/chosen", "rewards/rejected", "logps/chosen", "logps/rejected", "kl/proxy"} {
		assert.Contains(t, recs[5].Extra, k)
	}
	assert.Positive(t, recs[5].GradNorm)
	assert.NotNil(t, recs[19].ValLoss, "evaluation every 20 steps")
	assert.Nil(t, recs[18].ValLoss)

	saved, err := train.ReadMetrics(filepath.Join(dir, "metrics.jsonl"))
	require.NoError(t, err)
	assert.Len(t, saved, 40)
	for _, f := range []string{"loss.png", "reward_accuracy.png", "rewards.png", "kl.png"} {
		assert.FileExists(t, filepath.Join(dir, f))
	}
	// The checkpoint rebuilds the aligned model the way kiln's commands do.
	c, err := train.OpenCheckpoint(tr.CheckpointPath())
	require.NoError(t, err)
	assert.Equal(t, 40, c.Step)
	assert.Equal(t, "byte", c.Meta["tokenizer"])
	var mcfg gpt.Config
	require.NoError(t, json.Unmarshal([]byte(c.Meta["model"]), &mcfg))
	assert.Equal(t, tinyConfig, mcfg)
	m, err := gpt.New(mcfg, rand.New(rand.NewPCG(9, 9)))
	require.NoError(t, err)
	require.NoError(t, c.LoadParams(m.Parameters()))
	for i, p := range m.Parameters() {
		assert.Equal(t, tr.Policy.Parameters()[i].Value().Data(), p.Value().Data(), p.Name())
	}
}

// TestTrainerResume: a run cancelled mid-way saves a checkpoint; a fresh
// trainer resumed from it ends with the same weights, bit for bit, as an
// uninterrupted run, for every kind of data and a loss with state.
func TestTrainerResume(t *testing.T) {
	for _, c := range []struct {
		loss string
		kind Kind
	}{{"sigmoid", PairedData}, {"bco", UnpairedData}, {"kto", UnpairedData}, {"npo_rt", ForgetData}, {"lipo", ListwiseData}} {
		t.Run(c.loss, func(t *testing.T) {
			data := func() *TrainData { return DataFromPairs(c.kind, toyPairs(t, 20, 1)) }
			cfg := TrainerConfig{Steps: 9, Batch: 4, LR: 3e-3, EvalEvery: 3, CheckpointEvery: 100, Seed: 5}
			whole := newToyTrainer(t, c.loss, nil, cfg, data(), nil)
			_, err := whole.Run(context.Background())
			require.NoError(t, err)

			cfg.OutDir = t.TempDir()
			first := newToyTrainer(t, c.loss, nil, cfg, data(), nil)
			ctx, cancel := context.WithCancel(context.Background())
			first.OnStep = func(r train.Record) {
				if r.Step == 4 {
					cancel()
				}
			}
			res, err := first.Run(ctx)
			assert.ErrorIs(t, err, context.Canceled)
			assert.Equal(t, 4, res.Steps)
			ck, err := train.OpenCheckpoint(first.CheckpointPath())
			require.NoError(t, err)
			assert.Equal(t, 4, ck.Step, "Ctrl-C saves")

			second := newToyTrainer(t, c.loss, nil, cfg, nil, nil)
			require.NoError(t, second.Resume(first.CheckpointPath()))
			assert.Equal(t, 4, second.Step())
			_, err = second.Run(context.Background())
			require.NoError(t, err)
			for i, p := range whole.Policy.Parameters() {
				require.Equal(t, p.Value().Data(), second.Policy.Parameters()[i].Value().Data(), p.Name())
			}
			recs, err := train.ReadMetrics(second.MetricsPath())
			require.NoError(t, err)
			assert.Len(t, recs, 9, "the metrics file reads as one run")
		})
	}
}

func TestTrainerResumeErrors(t *testing.T) {
	cfg := TrainerConfig{Steps: 2, Batch: 4, LR: 1e-3, OutDir: t.TempDir()}
	tr := newToyTrainer(t, "sigmoid", nil, cfg, DataFromPairs(PairedData, toyPairs(t, 8, 1)), nil)
	_, err := tr.Run(context.Background())
	require.NoError(t, err)
	other := newToyTrainer(t, "ipo", nil, cfg, nil, nil)
	assert.ErrorContains(t, other.Resume(tr.CheckpointPath()), `written by a run of loss "sigmoid", not "ipo"`)
	short := newToyTrainer(t, "sigmoid", nil, TrainerConfig{Steps: 1, Batch: 4, LR: 1e-3}, nil, nil)
	assert.ErrorContains(t, short.Resume(tr.CheckpointPath()), "past this run's 1 steps")
	// A kiln train checkpoint is not an alignment checkpoint.
	plain := filepath.Join(t.TempDir(), "plain.safetensors")
	require.NoError(t, (&train.Checkpoint{Params: tr.Policy.Parameters(), Meta: map[string]string{"align.loss": "sigmoid"}}).Save(plain))
	assert.ErrorContains(t, newToyTrainer(t, "sigmoid", nil, cfg, nil, nil).Resume(plain), "not written by an alignment run")
	_, err = newToyTrainer(t, "sigmoid", nil, cfg, nil, nil).Run(context.Background())
	assert.ErrorContains(t, err, "no training data")
}

func TestTrainerErrors(t *testing.T) {
	pairs := toyPairs(t, 8, 1)
	m := tinyModel(t, 1)
	opt, err := optim.New("adamw", m.Parameters(), 1e-3, 0)
	require.NoError(t, err)
	good := TrainerConfig{Steps: 2, Batch: 4, LR: 1e-3}
	cases := []struct {
		cfg  TrainerConfig
		loss string
		data *TrainData
		msg  string
	}{
		{TrainerConfig{Batch: 4, LR: 1}, "sigmoid", nil, "steps 0 must be positive"},
		{TrainerConfig{Steps: 1, LR: 1}, "sigmoid", nil, "batch 0 must be positive"},
		{TrainerConfig{Steps: 1, Batch: 1, LR: math.NaN()}, "sigmoid", nil, "learning rate NaN"},
		{TrainerConfig{Steps: 1, Batch: 1, LR: 1, ClipNorm: -1}, "sigmoid", nil, "clip norm -1"},
		{good, "kto", DataFromPairs(PairedData, pairs), "training data is paired; loss kto takes unpaired data"},
		{good, "npo_rt", &TrainData{Kind: ForgetData, Unpaired: DataFromPairs(UnpairedData, pairs).Unpaired}, "needs a retain set"},
		{good, "sigmoid", &TrainData{Kind: PairedData}, "has no paired examples"},
		{good, "listwise_softmax", &TrainData{Kind: ListwiseData, Lists: []ListTokens{{Prompt: []int{1}, Completions: [][]int{{2}, {3}}, Scores: []float64{1, -1}}}},
			"listwise_softmax needs scores >= 0"},
	}
	for _, c := range cases {
		_, err := NewTrainer(c.cfg, m, mustNew(t, c.loss, nil), opt, c.data, nil)
		require.Error(t, err, c.msg)
		assert.Contains(t, err.Error(), c.msg)
	}
	// Combined losses of one kind train; of two kinds they do not.
	sum, err := Combine([]Loss{mustNew(t, "sigmoid", nil), mustNew(t, "sft", nil)}, []float64{1, 0.5})
	require.NoError(t, err)
	kind, ref, err := LossInfo(sum)
	require.NoError(t, err)
	assert.Equal(t, PairedData, kind)
	assert.True(t, ref)
	_, err = NewTrainer(good, m, sum, opt, DataFromPairs(PairedData, pairs), nil)
	assert.NoError(t, err)
	_, _, err = LossInfo(namedLoss("sigmoid+kto"))
	assert.ErrorContains(t, err, "mixes paired and unpaired data")
	_, _, err = LossInfo(namedLoss("mine"))
	assert.ErrorContains(t, err, `loss "mine" is not registered`)
}

// namedLoss is a Loss with a given name, for LossInfo.
type namedLoss string

func (n namedLoss) Name() string { return string(n) }

func (namedLoss) Compute(*Inputs, Metrics) *autograd.Var { return nil }

// TestTrainerNonFinite: a NaN weight makes every loss NaN; the run stops
// with an error naming the step, or skips the steps when asked to.
func TestTrainerNonFinite(t *testing.T) {
	for _, skip := range []bool{false, true} {
		cfg := TrainerConfig{Steps: 3, Batch: 4, LR: 1e-3, SkipNonFinite: skip, OutDir: t.TempDir()}
		tr := newToyTrainer(t, "sigmoid", nil, cfg, DataFromPairs(PairedData, toyPairs(t, 8, 1)), nil)
		w := tr.Policy.Parameters()[0].Value().Data()
		w[0] = float32(math.NaN())
		res, err := tr.Run(context.Background())
		if !skip {
			assert.ErrorContains(t, err, "step 1: loss NaN is not finite")
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, 3, res.Skipped)
		recs, err := train.ReadMetrics(tr.MetricsPath())
		require.NoError(t, err)
		require.Len(t, recs, 3)
		assert.True(t, recs[0].Skipped)
		assert.True(t, math.IsNaN(recs[0].Loss))
	}
}

// TestTrainerRefresh: on-policy rounds replace the data every RefreshEvery
// steps, and the reference log-probabilities of the new data are cached.
func TestTrainerRefresh(t *testing.T) {
	cfg := TrainerConfig{Steps: 10, Batch: 4, LR: 1e-3, RefreshEvery: 4}
	tr := newToyTrainer(t, "sigmoid", nil, cfg, DataFromPairs(PairedData, toyPairs(t, 8, 1)), nil)
	var at []int
	tr.Refresh = func(_ context.Context, round int) (*TrainData, error) {
		at = append(at, tr.Step())
		assert.Equal(t, len(at), round)
		return DataFromPairs(PairedData, toyPairs(t, 6+round, uint64(round)+10)), nil
	}
	var rounds []float64
	tr.OnStep = func(r train.Record) { rounds = append(rounds, r.Extra["round"]) }
	_, err := tr.Run(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []int{4, 8}, at)
	assert.Equal(t, []float64{0, 0, 0, 0, 1, 1, 1, 1, 2, 2}, rounds)
	assert.Len(t, tr.Data().Pairs, 8)
	for _, p := range tr.Data().Pairs {
		assert.True(t, p.HasRef)
	}
	tr2 := newToyTrainer(t, "sigmoid", nil, cfg, DataFromPairs(PairedData, toyPairs(t, 8, 1)), nil)
	tr2.Refresh = func(context.Context, int) (*TrainData, error) { return nil, fmt.Errorf("no prompts left") }
	_, err = tr2.Run(context.Background())
	assert.ErrorContains(t, err, "refreshing the data at step 4: no prompts left")
}

// TestProbe: the rule rate and its binomial error are what the samples
// show; the KL of a model to itself is 0, and grows as it moves away.
func TestProbe(t *testing.T) {
	m := tinyModel(t, 1)
	ref, err := NewReference(m)
	require.NoError(t, err)
	rule, err := ParseRule("avoid:e")
	require.NoError(t, err)
	var prompts [][]int
	for _, p := range []string{"The ", "Light ", "A ", "Rays ", "Of ", "In ", "So ", "Then "} {
		prompts = append(prompts, ids(p))
	}
	p := &Probe{Prompts: prompts, Rule: rule, Tokenizer: tokenizer.ByteLevel{}, Examples: 2, Sample: SampleConfig{Tokens: 6, Seed: 1}}
	r, err := p.Run(context.Background(), m, ref)
	require.NoError(t, err)
	assert.Equal(t, 8, r.Samples)
	assert.Equal(t, 48, r.Tokens)
	assert.Len(t, r.Examples, 2)
	sat := 0
	samples, err := Sample(context.Background(), m, prompts, 1, p.Sample)
	require.NoError(t, err)
	for _, s := range samples {
		if rule.Satisfied(tokenizer.ByteLevel{}.Decode(s[0])) {
			sat++
		}
	}
	assert.Equal(t, sat, r.Satisfied)
	assert.InDelta(t, float64(sat)/8, r.Rate, 1e-12)
	assert.InDelta(t, math.Sqrt(r.Rate*(1-r.Rate)/8), r.RateStdErr, 1e-12)
	assert.Zero(t, r.KL, "a model against itself")
	assert.Zero(t, r.KL3)

	other, err := NewReference(tinyModel(t, 2))
	require.NoError(t, err)
	r2, err := p.Run(context.Background(), m, other)
	require.NoError(t, err)
	assert.Positive(t, r2.KL3, "k3 is never negative")
	assert.Equal(t, r.Satisfied, r2.Satisfied, "the samples do not depend on the reference")

	p.Sample.Temperature = 0.5
	r3, err := p.Run(context.Background(), m, ref)
	require.NoError(t, err)
	assert.True(t, math.IsNaN(r3.KL), "no KL estimate from tempered samples")
	_, err = (&Probe{Prompts: prompts, Rule: rule, Sample: p.Sample}).Run(context.Background(), m, ref)
	assert.ErrorContains(t, err, "needs a tokenizer")
	_, err = (&Probe{}).Run(context.Background(), m, ref)
	assert.ErrorContains(t, err, "no prompts")
}

func TestPlotRunSkipsMissingMetrics(t *testing.T) {
	dir := t.TempDir()
	recs := []train.Record{{Step: 1, Loss: 1}, {Step: 2, Loss: 0.5, Extra: map[string]float64{"eval/rule/rate": 0.3}}}
	require.NoError(t, PlotRun(dir, recs))
	assert.FileExists(t, filepath.Join(dir, "loss.png"))
	assert.FileExists(t, filepath.Join(dir, "rule.png"))
	_, err := os.Stat(filepath.Join(dir, "reward_accuracy.png"))
	assert.True(t, os.IsNotExist(err))
}
