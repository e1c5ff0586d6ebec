package align

import (
	"math"
	"testing"

	"github.com/kiln-ml/kiln/models/gpt"
	"github.com/kiln-ml/kiln/tensor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRewardMetrics(t *testing.T) {
	m := Metrics{}
	RewardMetrics(m, []float64{1, 0, 2}, []float64{0, 0, 3})
	assert.Equal(t, Metrics{"rewards/chosen": 1, "rewards/rejected": 1, "rewards/margins": 0, "rewards/accuracies": 1.0 / 3}, m)
	RewardMetrics(nil, []float64{1}, []float64{0}) // a nil map is allowed
}

// TestMetricsIgnoreTransforms: rewards are β·(π − ref) even for losses
// that length-normalise or transform the log-ratios.
func TestMetricsIgnoreTransforms(t *testing.T) {
	for _, name := range []string{"sigmoid", "sigmoid_norm", "ipo", "fdpo_forward_kl"} {
		in, _ := pairInputs([]pairCase{caseA}, false)
		m := Metrics{}
		mustNew(t, name, nil).Compute(in, m)
		closeTo(t, 0.1, m["rewards/chosen"], name)
		closeTo(t, -0.05, m["rewards/rejected"], name)
		assert.Equal(t, 1.0, m["rewards/accuracies"], name)
	}
	// Reference-free losses log their own rewards: SimPO's β·a.
	in, _ := pairInputs([]pairCase{caseA}, true)
	m := Metrics{}
	mustNew(t, "simpo", nil).Compute(in, m)
	closeTo(t, 2*-1.0, m["rewards/chosen"], "simpo")
	closeTo(t, 2*-0.8, m["rewards/rejected"], "simpo")
	m = Metrics{}
	mustNew(t, "orpo", nil).Compute(in, m)
	closeTo(t, 1.0, m["nll_loss"], "orpo nll")
	assert.Contains(t, m, "log_odds_ratio")
	assert.Contains(t, m, "log_odds_chosen")
}

func TestTokenMetrics(t *testing.T) {
	// Two rows (one pair), T = 2, V = 4.
	b := NewBatch(8)
	b.FillPairs([]PairTokens{{Prompt: []int{0}, Chosen: []int{1, 2}, Rejected: []int{3}}})
	require.Equal(t, []int{1, 2, 3, gpt.IgnoreIndex}, b.Targets)
	logits := tensor.FromSlice([]float32{
		0, 5, 0, 0, // predicts 1: right
		1, 1, 1, 1, // uniform: argmax 0, target 2: wrong
		0, 0, 0, 8, // rejected row
		9, 9, 9, 9, // padding: ignored
	}, 2, 2, 4)
	m := Metrics{}
	TokenMetrics(m, logits, b)
	assert.InDelta(t, (5.0/4+1)/2, m["logits/chosen"], 1e-9)
	assert.InDelta(t, 2.0, m["logits/rejected"], 1e-9)
	assert.Equal(t, 0.5, m["mean_token_accuracy"])
	assert.Equal(t, 3.0, m["num_tokens"])
	h := func(row []float64) float64 {
		z := 0.0
		for _, v := range row {
			z += math.Exp(v)
		}
		e := 0.0
		for _, v := range row {
			p := math.Exp(v) / z
			e -= p * math.Log(p)
		}
		return e
	}
	assert.InDelta(t, (h([]float64{0, 5, 0, 0})+math.Log(4)+h([]float64{0, 0, 0, 8}))/3, m["entropy"], 1e-9)
}

func TestKL(t *testing.T) {
	b := NewBatch(8)
	b.FillRows([]Row{{Prompt: []int{0}, Completion: []int{1, 2}}, {Prompt: []int{0}, Completion: []int{3}}})
	policy := []float32{-1, -2, -0.5, 99} // the last position is padding
	ref := []float32{-1.5, -1, -0.5, -7}
	k1, k3 := KL(policy, ref, b)
	// Row sums of ℓ_θ − ℓ_ref: (0.5 − 1) and 0.
	assert.InDelta(t, (0.5-1+0)/2, k1, 1e-6)
	k3want := (math.Expm1(-0.5) + 0.5 + math.Expm1(1) - 1) / 2
	assert.InDelta(t, k3want, k3, 1e-6)
	k1, k3 = KL(policy, policy, b)
	assert.Zero(t, k1)
	assert.Zero(t, k3)
}

func TestReference(t *testing.T) {
	m := tinyModel(t, 3)
	ref, err := NewReference(m)
	require.NoError(t, err)
	for i, p := range m.Parameters() {
		assert.Equal(t, p.Value().Values(), ref.Model.Parameters()[i].Value().Values(), p.Name())
	}
	// The copy is independent: training the policy leaves it alone.
	w := m.Parameters()[0].Value().Data()
	before := ref.Model.Parameters()[0].Value().Values()
	w[0] += 1
	assert.Equal(t, before, ref.Model.Parameters()[0].Value().Values())
	// Mix moves it part of the way.
	ref.Mix(m, 0.25)
	assert.InDelta(t, before[0]+0.25, ref.Model.Parameters()[0].Value().Values()[0], 1e-6)
}

func TestPrecompute(t *testing.T) {
	m := tinyModel(t, 3)
	ref, err := NewReference(m)
	require.NoError(t, err)
	ctx := tinyConfig.Context

	pairs := tinyPairs(t)
	ref.PrecomputePairs(pairs, ctx, 2)
	b := NewBatch(ctx)
	b.FillPairs(pairs)
	require.NotNil(t, b.Ref)
	direct := ref.LogProbs(b, nil)
	assert.InDeltaSlice(t, direct, b.Ref, 1e-5)

	items := tinyUnpaired(t)
	ref.PrecomputeUnpaired(items, ctx, 3)
	b.FillUnpaired(items)
	require.NotNil(t, b.Ref)
	assert.InDeltaSlice(t, ref.LogProbs(b, nil), b.Ref, 1e-5)

	lists := tinyLists(t)
	ref.PrecomputeLists(lists, ctx, 1)
	b.FillLists(lists)
	require.NotNil(t, b.Ref)
	assert.InDeltaSlice(t, ref.LogProbs(b, nil), b.Ref, 1e-5)
}

// TestScorerTokenLogProbs: per-token log-probabilities sum to the
// sequence log-probabilities.
func TestScorerTokenLogProbs(t *testing.T) {
	m := tinyModel(t, 3)
	s := NewScorer(m)
	b := NewBatch(tinyConfig.Context)
	b.FillPairs(tinyPairs(t))
	tok := s.TokenLogProbs(b, nil)
	seq := s.LogProbs(b, nil)
	for r := range b.Rows {
		sum := float32(0)
		for _, v := range tok[r*b.T : (r+1)*b.T] {
			sum += v
		}
		assert.InDelta(t, seq[r], sum, 1e-4)
	}
}

func TestRankedPairs(t *testing.T) {
	pairs := tinyPairs(t)
	b := NewBatch(tinyConfig.Context)
	b.FillPairs(pairs)
	policy := []float32{-1, -2, -3, -4, -5, -6}
	ref := []float32{-6, -5, -4, -3, -2, -1}
	rp := RankedPairs(pairs, b, policy, ref)
	require.Len(t, rp, 3)
	assert.Equal(t, RankedPair{Chosen: -2, Rejected: -5, RefChosen: -5, RefRejected: -2,
		ChosenLen: b.Lengths[1], RejectedLen: b.Lengths[4]}, rp[1])
	assert.Equal(t, 1.0, RankingAccuracy(rp, RankingOptions{}))
	assert.Panics(t, func() { RankedPairs(pairs[:2], b, policy, ref) })
}
