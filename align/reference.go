package align

import (
	"fmt"
	"math/rand/v2"

	"github.com/kiln-ml/kiln/models/gpt"
)

// Reference is the frozen reference model of DPO-style losses: a copy of
// the policy taken before training, evaluated without gradients. Its
// dropout is off (the copy is in evaluation mode), as TRL's
// disable_dropout does, so that at step 0 policy and reference agree
// exactly if the policy's dropout is off too.
type Reference struct {
	Model *gpt.Model
	*Scorer
	buf []float32
}

// NewReference returns a frozen copy of policy: same configuration and
// weights, no parameter requires a gradient.
func NewReference(policy *gpt.Model) (*Reference, error) {
	m, err := gpt.New(policy.Config, rand.New(rand.NewPCG(0, 0)))
	if err != nil {
		return nil, fmt.Errorf("align.NewReference: %w", err)
	}
	src, dst := policy.Parameters(), m.Parameters()
	if len(src) != len(dst) {
		return nil, fmt.Errorf("align.NewReference: the copy has %d parameters, the policy %d", len(dst), len(src))
	}
	for i, p := range dst {
		p.Value().CopyFrom(src[i].Value())
		p.SetRequiresGrad(false)
	}
	return &Reference{Model: m, Scorer: NewScorer(m)}, nil
}

// Mix moves the reference towards the policy, θ_ref ← α·θ + (1−α)·θ_ref
// (TR-DPO, "Learn Your Reference Model for Real Good Alignment"; α = 0.6
// every 512 steps there). Cached reference log-probabilities go stale.
func (r *Reference) Mix(policy *gpt.Model, alpha float32) {
	src := policy.Parameters()
	for i, p := range r.Model.Parameters() {
		d, s := p.Value().Data(), src[i].Value().Data()
		if len(d) != len(s) {
			panic(fmt.Sprintf("align.Reference.Mix: parameter %s has %d values, the policy's %d", p.Name(), len(d), len(s)))
		}
		for j := range d {
			d[j] = alpha*s[j] + (1-alpha)*d[j]
		}
	}
}

// PrecomputePairs stores the reference log-probabilities of every pair in
// the pairs themselves (TRL's precompute_ref_log_probs), batchSize pairs
// per forward pass; batches filled from them then carry Ref.
func (r *Reference) PrecomputePairs(pairs []PairTokens, context, batchSize int) {
	b := NewBatch(context)
	for lo := 0; lo < len(pairs); lo += max(batchSize, 1) {
		chunk := pairs[lo:min(lo+max(batchSize, 1), len(pairs))]
		b.FillPairs(chunk)
		r.buf = r.LogProbs(b, r.buf)
		for i := range chunk {
			chunk[i].RefChosen, chunk[i].RefRejected, chunk[i].HasRef = r.buf[i], r.buf[len(chunk)+i], true
		}
	}
}

// PrecomputeUnpaired is PrecomputePairs for unpaired examples.
func (r *Reference) PrecomputeUnpaired(items []UnpairedTokens, context, batchSize int) {
	b := NewBatch(context)
	for lo := 0; lo < len(items); lo += max(batchSize, 1) {
		chunk := items[lo:min(lo+max(batchSize, 1), len(items))]
		b.FillUnpaired(chunk)
		r.buf = r.LogProbs(b, r.buf)
		for i := range chunk {
			chunk[i].Ref, chunk[i].HasRef = r.buf[i], true
		}
	}
}

// PrecomputeLists is PrecomputePairs for lists (batchSize lists per pass).
func (r *Reference) PrecomputeLists(lists []ListTokens, context, batchSize int) {
	b := NewBatch(context)
	for lo := 0; lo < len(lists); lo += max(batchSize, 1) {
		chunk := lists[lo:min(lo+max(batchSize, 1), len(lists))]
		b.FillLists(chunk)
		r.buf = r.LogProbs(b, r.buf)
		at := 0
		for i := range chunk {
			k := len(chunk[i].Completions)
			chunk[i].Ref = append(chunk[i].Ref[:0], r.buf[at:at+k]...)
			at += k
		}
	}
}
