package align

import (
	"fmt"
	"math"

	"github.com/kiln-ml/kiln/models/gpt"
	"github.com/kiln-ml/kiln/tensor"
)

// Metrics maps metric names (TRL's, e.g. "rewards/margins") to the values
// of one step. Reuse one map across steps to avoid allocating.
type Metrics map[string]float64

// set stores v unless m is nil.
func (m Metrics) set(name string, v float64) {
	if m != nil {
		m[name] = v
	}
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(max(len(v), 1))
}

// RewardMetrics writes TRL's reward metrics from the implicit rewards of
// each pair (β·(π − ref) for DPO-style losses): rewards/chosen and
// rewards/rejected (batch means), rewards/margins (mean difference) and
// rewards/accuracies, the share of pairs with chosen > rejected strictly,
// so that ties (every pair at step 0) count as wrong.
func RewardMetrics(m Metrics, chosen, rejected []float64) {
	if len(chosen) != len(rejected) {
		panic(fmt.Sprintf("align.RewardMetrics: %d chosen and %d rejected rewards", len(chosen), len(rejected)))
	}
	correct := 0.0
	for i := range chosen {
		if chosen[i] > rejected[i] {
			correct++
		}
	}
	mc, mr := mean(chosen), mean(rejected)
	m.set("rewards/chosen", mc)
	m.set("rewards/rejected", mr)
	m.set("rewards/margins", mc-mr)
	m.set("rewards/accuracies", correct/float64(max(len(chosen), 1)))
}

// metrics writes the metrics every paired loss logs: logps/chosen and
// logps/rejected (batch means of sequence sums) and, if rewards is set,
// the rewards scale·(π − ref): raw log-ratios whatever the loss transforms
// (f-scores, length normalisation), as TRL logs them. Reference-free
// losses pass their own rewards to RewardMetrics instead.
func (p *pairs) metrics(m Metrics, scale float64, rewards bool) {
	if m == nil {
		return
	}
	pv := values(p.in.Logps)
	pc, pr := pv[:p.B], pv[p.B:]
	m.set("logps/chosen", mean(pc))
	m.set("logps/rejected", mean(pr))
	if !rewards {
		return
	}
	rc, rr := make([]float64, p.B), make([]float64, p.B)
	for i := range p.B {
		rc[i], rr[i] = pc[i], pr[i]
		if p.in.Ref != nil {
			rc[i] -= float64(p.in.Ref[i])
			rr[i] -= float64(p.in.Ref[p.B+i])
		}
		rc[i] *= scale
		rr[i] *= scale
	}
	RewardMetrics(m, rc, rr)
}

// TokenMetrics writes the token-level metrics of a paired batch from its
// logits [2B, T, V]: logits/chosen and logits/rejected (mean over
// completion tokens of the mean raw logit), entropy (mean over all
// completion tokens of the predictive entropy), mean_token_accuracy (share
// of chosen completion tokens whose argmax is the target) and num_tokens
// (completion tokens in the batch).
func TokenMetrics(m Metrics, logits *tensor.Tensor, b *Batch) {
	s := logits.Shape()
	if len(s) != 3 || s[0] != b.Rows || s[1] != b.T {
		panic(fmt.Sprintf("align.TokenMetrics: logits of shape %v for a batch of %d rows x %d positions", s, b.Rows, b.T))
	}
	V := s[2]
	d := logits.Contiguous().Data()
	var logitSum [2]float64
	var count [2]int
	entropy, correct := 0.0, 0
	for r := range b.Rows {
		half := 0
		if r >= b.Rows/2 {
			half = 1
		}
		for t := range b.T {
			y := b.Targets[r*b.T+t]
			if y == gpt.IgnoreIndex {
				continue
			}
			row := d[(r*b.T+t)*V : (r*b.T+t+1)*V]
			mx, arg, sum := math.Inf(-1), 0, 0.0
			for j, v := range row {
				sum += float64(v)
				if float64(v) > mx {
					mx, arg = float64(v), j
				}
			}
			z, ez := 0.0, 0.0
			for _, v := range row {
				e := math.Exp(float64(v) - mx)
				z += e
				ez += e * (float64(v) - mx)
			}
			// H = log Z - E[x - max]
			entropy += math.Log(z) - ez/z
			logitSum[half] += sum / float64(V)
			count[half]++
			if half == 0 && arg == y {
				correct++
			}
		}
	}
	m.set("logits/chosen", logitSum[0]/float64(max(count[0], 1)))
	m.set("logits/rejected", logitSum[1]/float64(max(count[1], 1)))
	m.set("entropy", entropy/float64(max(count[0]+count[1], 1)))
	m.set("mean_token_accuracy", float64(correct)/float64(max(count[0], 1)))
	m.set("num_tokens", float64(count[0]+count[1]))
}
