package align

import (
	"fmt"
	"math"
)

// Ranking metrics of "Preference Learning Algorithms Do Not Learn
// Preference Rankings" (spec §10.3): how often a model gives the preferred
// completion the higher likelihood, and how often the exact optimum of the
// DPO objective would.

// RankedPair is one evaluation pair: sequence log-probabilities of the
// preferred (chosen) and dispreferred completions under the policy and
// the reference, their lengths, and the share Fraction of annotators who
// preferred the chosen one (0 stands for DefaultChosenFraction).
type RankedPair struct {
	Chosen, Rejected       float64
	RefChosen, RefRejected float64
	ChosenLen, RejectedLen int
	Fraction               float64
}

// RankingOptions tunes the ranking metrics.
type RankingOptions struct {
	// Normalized compares average per-token log-probabilities instead of sums.
	Normalized bool
	// TieBand, when positive, treats likelihood ratios within ±TieBand of 1
	// as ties, as the official code does with 0.05: a pair then counts as
	// correct when the predicted and the annotated rankings (both with ties)
	// agree. Zero compares strictly: correct iff the ratio exceeds 1.
	TieBand float64
}

// band ranks by a log-likelihood ratio: 1 chosen ahead, 0 tie, -1 behind.
func (o RankingOptions) band(logRatio float64) int {
	if o.TieBand > 0 {
		if math.Abs(math.Exp(logRatio)-1) < o.TieBand {
			return 0
		}
		if logRatio > 0 {
			return 1
		}
		return -1
	}
	if logRatio > 0 {
		return 1
	}
	return -1
}

// annotated returns the ranking the annotators gave: with a tie band, a
// fraction near ½ is a tie; otherwise the chosen completion is ahead.
func (o RankingOptions) annotated(fraction float64) int {
	if o.TieBand > 0 {
		return o.band(preferenceLogOdds(fraction))
	}
	return 1
}

// preferenceLogOdds returns log(α/(1−α)), with 1e-3 for a zero denominator
// as in the official code.
func preferenceLogOdds(alpha float64) float64 {
	den := 1 - alpha
	if den <= 0 {
		den = 1e-3
	}
	return math.Log(alpha / den)
}

// alpha returns the annotator agreement, the default when unknown.
func (p RankedPair) alpha() float64 {
	if p.Fraction == 0 {
		return DefaultChosenFraction
	}
	return p.Fraction
}

func (p RankedPair) policyLogRatio(normalized bool) float64 {
	if normalized {
		return p.Chosen/float64(max(p.ChosenLen, 1)) - p.Rejected/float64(max(p.RejectedLen, 1))
	}
	return p.Chosen - p.Rejected
}

// RankingAccuracy returns the share of pairs the policy ranks as the
// annotators did: π(chosen) > π(rejected).
func RankingAccuracy(pairs []RankedPair, o RankingOptions) float64 {
	correct := 0
	for _, p := range pairs {
		if o.band(p.policyLogRatio(o.Normalized)) == o.annotated(p.alpha()) {
			correct++
		}
	}
	return float64(correct) / float64(max(len(pairs), 1))
}

// IdealizedRankingAccuracy returns the ranking accuracy of the optimum of
// the DPO objective, π* ∝ π_ref·exp(r*/β) under Bradley-Terry with
// P(chosen ≻ rejected) = Fraction: a pair is ranked correctly iff
// (ref_c − ref_r) + (1/β)·log(α/(1−α)) > 0 (lengths normalise the
// reference term when o.Normalized).
func IdealizedRankingAccuracy(pairs []RankedPair, beta float64, o RankingOptions) float64 {
	if !(beta > 0) {
		panic(fmt.Sprintf("align.IdealizedRankingAccuracy: beta %v must be positive", beta))
	}
	correct := 0
	for _, p := range pairs {
		ref := p.RefChosen - p.RefRejected
		if o.Normalized {
			ref = p.RefChosen/float64(max(p.ChosenLen, 1)) - p.RefRejected/float64(max(p.RejectedLen, 1))
		}
		if o.band(ref+preferenceLogOdds(p.alpha())/beta) == o.annotated(p.alpha()) {
			correct++
		}
	}
	return float64(correct) / float64(max(len(pairs), 1))
}

// AlignmentGap returns the idealized minus the actual ranking accuracy.
func AlignmentGap(pairs []RankedPair, beta float64, o RankingOptions) float64 {
	return IdealizedRankingAccuracy(pairs, beta, o) - RankingAccuracy(pairs, o)
}

// PairDPOLoss returns the DPO loss −logσ(β·h) of one pair.
func PairDPOLoss(p RankedPair, beta float64) float64 {
	h := (p.Chosen - p.RefChosen) - (p.Rejected - p.RefRejected)
	return softplus(-beta * h)
}

// FlipThreshold returns the DPO loss below which the policy ranks the pair
// correctly: −logσ(β·(ref_r − ref_c)). A pair the reference mis-ranks
// needs a loss below ln 2 before its ranking flips.
func FlipThreshold(p RankedPair, beta float64) float64 {
	return softplus(-beta * (p.RefRejected - p.RefChosen))
}

// softplus returns log(1 + e^x) without overflow.
func softplus(x float64) float64 { return math.Max(x, 0) + math.Log1p(math.Exp(-math.Abs(x))) }

// RankedPairs returns the evaluation pairs of a batch filled by
// b.FillPairs(pairs), from the sequence log-probabilities of its rows under
// the policy and the reference (Scorer.LogProbs, Reference.LogProbs).
func RankedPairs(pairs []PairTokens, b *Batch, policy, ref []float32) []RankedPair {
	B := len(pairs)
	if b.Rows != 2*B || len(policy) != 2*B || len(ref) != 2*B {
		panic(fmt.Sprintf("align.RankedPairs: %d pairs, a batch of %d rows, %d policy and %d reference log-probabilities", B, b.Rows, len(policy), len(ref)))
	}
	out := make([]RankedPair, B)
	for i, p := range pairs {
		out[i] = RankedPair{
			Chosen: float64(policy[i]), Rejected: float64(policy[B+i]),
			RefChosen: float64(ref[i]), RefRejected: float64(ref[B+i]),
			ChosenLen: b.Lengths[i], RejectedLen: b.Lengths[B+i],
			Fraction: p.ChosenFraction,
		}
	}
	return out
}
