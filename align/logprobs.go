package align

import (
	"fmt"

	"github.com/kiln-ml/kiln/autograd"
	"github.com/kiln-ml/kiln/models/gpt"
)

// LM is a causal language model: logits [B, T, vocab] for token ids [B*T].
// *gpt.Model is one.
type LM interface {
	Forward(tape *autograd.Tape, ids []int, B, T int) *autograd.Var
}

// TokenLogProbs returns the log-probability of every target of the batch
// under logits [Rows, T, V], shape [Rows*T], 0 off the completion. It is
// differentiable.
func TokenLogProbs(logits *autograd.Var, b *Batch) *autograd.Var {
	s := logits.Shape()
	if len(s) != 3 || s[0] != b.Rows || s[1] != b.T {
		panic(fmt.Sprintf("align.TokenLogProbs: logits of shape %v for a batch of %d rows x %d positions", s, b.Rows, b.T))
	}
	return autograd.TokenLogProbs(autograd.Reshape(logits, b.Rows*b.T, s[2]), b.Targets, gpt.IgnoreIndex)
}

// SequenceLogProbs returns the sum of completion-token log-probabilities of
// each row, shape [Rows], differentiable with respect to the logits
// [Rows, T, V]. The token counts are b.Lengths.
func SequenceLogProbs(logits *autograd.Var, b *Batch) *autograd.Var {
	return autograd.SumAxis(autograd.Reshape(TokenLogProbs(logits, b), b.Rows, b.T), 1, false)
}

// Scorer evaluates a model without gradients, on a tape of its own that it
// resets after each call.
type Scorer struct {
	Model LM
	tape  *autograd.Tape
}

// NewScorer returns a Scorer of m.
func NewScorer(m LM) *Scorer {
	return &Scorer{Model: m, tape: autograd.NewTape(autograd.WithoutGrad())}
}

// LogProbs writes the sequence log-probability of each row of b into dst
// (grown to b.Rows) and returns it.
func (s *Scorer) LogProbs(b *Batch, dst []float32) []float32 {
	defer s.tape.Reset()
	lp := SequenceLogProbs(s.Model.Forward(s.tape, b.IDs, b.Rows, b.T), b)
	dst = grow(dst, b.Rows)
	copy(dst, lp.Value().Data())
	return dst
}

// TokenLogProbs writes the log-probability of every target of b into dst
// (grown to b.Rows*b.T; 0 off the completion) and returns it.
func (s *Scorer) TokenLogProbs(b *Batch, dst []float32) []float32 {
	defer s.tape.Reset()
	lp := TokenLogProbs(s.Model.Forward(s.tape, b.IDs, b.Rows, b.T), b)
	dst = grow(dst, b.Rows*b.T)
	copy(dst, lp.Value().Data())
	return dst
}
