package align

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/kiln-ml/kiln/autograd"
	"github.com/kiln-ml/kiln/models/gpt"
	"github.com/kiln-ml/kiln/models/tokenizer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var tinyConfig = gpt.Config{Vocab: 256, Context: 32, Dim: 16, Layers: 1, Heads: 2}

func tinyModel(t testing.TB, seed uint64) *gpt.Model {
	m, err := gpt.New(tinyConfig, rand.New(rand.NewPCG(seed, 7)))
	require.NoError(t, err)
	return m
}

func tokenizeCfg() TokenizeConfig {
	return TokenizeConfig{Context: tinyConfig.Context, EOS: ids("\n"), Vocab: tinyConfig.Vocab}
}

func tinyPairs(t testing.TB) []PairTokens {
	pairs := []Pair{
		{Prompt: "2+2=", Chosen: "4", Rejected: "5"},
		{Prompt: "sky:", Chosen: " blue", Rejected: " green"},
		{Prompt: "hi", Chosen: " there", Rejected: "!"},
	}
	out, _, err := TokenizePairs(pairs, tokenizer.ByteLevel{}, tokenizeCfg())
	require.NoError(t, err)
	return out
}

func tinyUnpaired(t testing.TB) []UnpairedTokens {
	items := []Unpaired{
		{Prompt: "2+2=", Completion: "4", Desirable: true},
		{Prompt: "sky:", Completion: " green"},
		{Prompt: "hi", Completion: " there", Desirable: true},
		{Prompt: "3+1=", Completion: "5"},
	}
	out, _, err := TokenizeUnpaired(items, tokenizer.ByteLevel{}, tokenizeCfg())
	require.NoError(t, err)
	return out
}

func tinyLists(t testing.TB) []ListTokens {
	lists := []List{
		{Prompt: "2+2=", Completions: []string{"4", "5", "four"}, Scores: []float64{2, 0, 1}},
		{Prompt: "sky:", Completions: []string{" blue", " red"}, Scores: []float64{1, 0}},
	}
	out, _, err := TokenizeLists(lists, tokenizer.ByteLevel{}, tokenizeCfg())
	require.NoError(t, err)
	return out
}

// TestSequenceLogProbs compares the sums with log-softmax computed in
// float64 from the logits.
func TestSequenceLogProbs(t *testing.T) {
	m := tinyModel(t, 1)
	b := NewBatch(tinyConfig.Context)
	b.FillPairs(tinyPairs(t))
	tape := autograd.NewTape(autograd.WithoutGrad())
	logits := m.Forward(tape, b.IDs, b.Rows, b.T)
	got := SequenceLogProbs(logits, b).Value().Values()
	d := logits.Value().Data()
	V := tinyConfig.Vocab
	for r := range b.Rows {
		want := 0.0
		for tt := range b.T {
			y := b.Targets[r*b.T+tt]
			if y == gpt.IgnoreIndex {
				continue
			}
			row := d[(r*b.T+tt)*V : (r*b.T+tt+1)*V]
			mx := math.Inf(-1)
			for _, v := range row {
				mx = max(mx, float64(v))
			}
			z := 0.0
			for _, v := range row {
				z += math.Exp(float64(v) - mx)
			}
			want += float64(row[y]) - mx - math.Log(z)
		}
		assert.InDelta(t, want, float64(got[r]), 1e-4, "row %d", r)
	}
	// The scorer gives the same numbers.
	assert.Equal(t, got, NewScorer(m).LogProbs(b, nil))
}

// TestStepZero: with the reference a frozen copy of the policy, DPO starts
// at exactly ln 2 with zero rewards and zero accuracy (ties).
func TestStepZero(t *testing.T) {
	m := tinyModel(t, 1)
	ref, err := NewReference(m)
	require.NoError(t, err)
	for _, p := range ref.Model.Parameters() {
		assert.False(t, p.RequiresGrad(), p.Name())
	}
	b := NewBatch(tinyConfig.Context)
	b.FillPairs(tinyPairs(t))
	tape := autograd.NewTape()
	lp := SequenceLogProbs(m.Forward(tape, b.IDs, b.Rows, b.T), b)
	l := mustNew(t, "sigmoid", nil)
	met := Metrics{}
	loss := l.Compute(&Inputs{Tape: tape, Logps: lp, Ref: ref.LogProbs(b, nil), Lengths: b.Lengths}, met)
	assert.Equal(t, float32(math.Ln2), loss.Item())
	assert.Zero(t, met["rewards/chosen"])
	assert.Zero(t, met["rewards/rejected"])
	assert.Zero(t, met["rewards/margins"])
	assert.Zero(t, met["rewards/accuracies"])
	loss.Backward()
	// The gradient reaches the policy and not the reference.
	assert.NotNil(t, m.Parameters()[0].Grad())
	assert.Nil(t, ref.Model.Parameters()[0].Grad())
	assert.PanicsWithValue(t, "align.TokenMetrics: logits of shape [6] for a batch of 6 rows x 10 positions",
		func() { TokenMetrics(met, lp.Value(), b) })
}

// lossSetup is a forward pass through the tiny GPT that feeds a loss of
// any kind: f builds the inputs on tape from a fresh forward pass.
type lossSetup struct {
	params []*autograd.Var
	f      func(tape *autograd.Tape) *Inputs
}

// newLossSetup prepares batches of the loss's kind for policy m, with a
// reference of different weights so that log-ratios are not all zero.
func newLossSetup(t testing.TB, kind Kind, m *gpt.Model, ref *Reference) lossSetup {
	ctx := tinyConfig.Context
	b := NewBatch(ctx)
	forward := func(tape *autograd.Tape, b *Batch) *autograd.Var {
		return SequenceLogProbs(m.Forward(tape, b.IDs, b.Rows, b.T), b)
	}
	s := lossSetup{params: m.Parameters()}
	switch kind {
	case PairedData:
		b.FillPairs(tinyPairs(t))
		r := ref.LogProbs(b, nil)
		s.f = func(tape *autograd.Tape) *Inputs {
			return &Inputs{Tape: tape, Logps: forward(tape, b), Ref: r, Lengths: b.Lengths}
		}
	case UnpairedData:
		items := tinyUnpaired(t)
		mis := NewBatch(ctx)
		mis.FillMismatched(items)
		pol, rf := NewScorer(m).LogProbs(mis, nil), ref.LogProbs(mis, nil)
		kl := make([]float32, len(pol))
		for i := range kl {
			kl[i] = pol[i] - rf[i]
		}
		b.FillUnpaired(items)
		r := ref.LogProbs(b, nil)
		s.f = func(tape *autograd.Tape) *Inputs {
			return &Inputs{Tape: tape, Logps: forward(tape, b), Ref: r, Lengths: b.Lengths, Desirable: b.Desirable, KL: kl}
		}
	case ForgetData:
		items := tinyUnpaired(t)
		b.FillUnpaired(items[:2])
		retain := NewBatch(ctx)
		retain.FillUnpaired(items[2:])
		r := ref.LogProbs(b, nil)
		s.f = func(tape *autograd.Tape) *Inputs {
			return &Inputs{Tape: tape, Logps: forward(tape, b), Ref: r, Lengths: b.Lengths,
				RetainLogps: forward(tape, retain), RetainLengths: retain.Lengths}
		}
	case ListwiseData:
		b.FillLists(tinyLists(t))
		r := ref.LogProbs(b, nil)
		s.f = func(tape *autograd.Tape) *Inputs {
			return &Inputs{Tape: tape, Logps: forward(tape, b), Ref: r, Lengths: b.Lengths, Scores: b.Scores, ListSizes: b.ListSizes}
		}
	}
	return s
}

// TestLossesThroughGPT checks every registered loss's gradient with
// respect to a sample of the GPT's parameters against finite differences.
func TestLossesThroughGPT(t *testing.T) {
	m := tinyModel(t, 1)
	ref, err := NewReference(tinyModel(t, 2))
	require.NoError(t, err)
	// Squared losses with the default β = 0.1 sit near (h − 5)² ≈ 25, where
	// float32 differences cannot resolve the slope; β = 1 keeps them O(1).
	opts := map[string]Options{"ipo_paper": {"beta": 1}, "sppo_hard": {"beta": 1}}
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			spec, _ := Lookup(name)
			l := mustNew(t, name, opts[name])
			s := newLossSetup(t, spec.Kind, m, ref)
			tape := autograd.NewTape()
			if _, ok := l.(Stateful); ok {
				l.Compute(s.f(tape), nil) // move the state off its start
				tape.Reset()
			}
			f := func() *autograd.Var {
				tape.Reset()
				in := s.f(tape)
				in.Eval = true
				return l.Compute(in, nil)
			}
			err := autograd.CheckGrad(f, s.params, autograd.GradCheckOptions{MaxElems: 3, Eps: 3e-3})
			assert.NoError(t, err)
		})
	}
}
