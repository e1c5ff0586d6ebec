package align

import (
	"fmt"
	"math"

	"github.com/kiln-ml/kiln/models/gpt"
)

// KL estimates the KL divergence KL(π_θ ‖ π_ref) from completions sampled
// from the policy (spec §10.4): given the per-token log-probabilities of
// the batch's targets under the policy and under the reference (as
// Scorer.TokenLogProbs returns them), it returns the means over rows of
// the per-sequence sums of k1 = ℓ_θ − ℓ_ref and of the lower-variance
// k3 = e^{ℓ_ref − ℓ_θ} − 1 − (ℓ_ref − ℓ_θ). Log them as kl/k1 and kl/k3.
// On completions not sampled from the policy (a preference data set) the
// mean log-ratio, rewards/chosen / β, is only a proxy.
func KL(policy, ref []float32, b *Batch) (k1, k3 float64) {
	n := b.Rows * b.T
	if len(policy) != n || len(ref) != n {
		panic(fmt.Sprintf("align.KL: %d policy and %d reference log-probabilities for a batch of %d x %d", len(policy), len(ref), b.Rows, b.T))
	}
	for i, y := range b.Targets {
		if y == gpt.IgnoreIndex {
			continue
		}
		d := float64(ref[i]) - float64(policy[i])
		k1 -= d
		k3 += math.Expm1(d) - d
	}
	rows := float64(max(b.Rows, 1))
	return k1 / rows, k3 / rows
}
