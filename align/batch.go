package align

import (
	"fmt"

	"github.com/kiln-ml/kiln/models/gpt"
)

// Row is one sequence a batch holds: a prompt and a completion, whose
// completion tokens are scored.
type Row struct{ Prompt, Completion []int }

// Batch is a set of rows laid out for one forward pass: each row is
// prompt++completion cut to Context+1 tokens (keep_start), fed as its
// first L-1 tokens and right-padded to T positions. Targets are the rows
// shifted by one, with gpt.IgnoreIndex on prompt and padding positions, so
// that only completion tokens count.
//
// A Batch reuses its buffers: each Fill overwrites the previous contents.
// SequenceLogProbs keeps a reference to Targets until Backward, so do not
// refill a batch before the backward pass of the step that used it.
type Batch struct {
	Context int // the model's context length; rows keep Context+1 tokens
	Rows, T int
	IDs     []int // [Rows*T] model inputs, row-major; padding is token 0
	Targets []int // [Rows*T] next tokens, gpt.IgnoreIndex off the completion
	Lengths []int // [Rows] completion tokens scored in each row
	// Ref holds the rows' cached reference log-probabilities when every
	// example of the batch has one (see Reference.Precompute*), else nil.
	Ref []float32
	// Desirable holds the labels of unpaired rows (FillUnpaired).
	Desirable []bool
	// Scores and ListSizes describe listwise rows (FillLists): consecutive
	// groups of ListSizes[i] rows are the completions of one list.
	Scores    []float32
	ListSizes []int

	rows   []Row
	refBuf []float32
}

// NewBatch returns an empty batch for a model with the given context.
func NewBatch(context int) *Batch {
	if context <= 0 {
		panic(fmt.Sprintf("align.NewBatch: context %d must be positive", context))
	}
	return &Batch{Context: context}
}

// Pairs returns the number of preference pairs in a batch filled by FillPairs.
func (b *Batch) Pairs() int { return b.Rows / 2 }

// FillRows lays out the given rows.
func (b *Batch) FillRows(rows []Row) {
	limit := b.Context + 1
	maxLen := 0
	for _, r := range rows {
		maxLen = max(maxLen, min(len(r.Prompt)+len(r.Completion), limit))
	}
	b.Rows, b.T = len(rows), max(maxLen-1, 1)
	n := b.Rows * b.T
	b.IDs = grow(b.IDs, n)
	b.Targets = grow(b.Targets, n)
	b.Lengths = grow(b.Lengths, b.Rows)
	b.Ref, b.Desirable, b.Scores, b.ListSizes = nil, b.Desirable[:0], b.Scores[:0], b.ListSizes[:0]
	for i, r := range rows {
		p := min(len(r.Prompt), limit)
		L := min(p+len(r.Completion), limit)
		at := func(j int) int {
			if j < p {
				return r.Prompt[j]
			}
			return r.Completion[j-p]
		}
		ids, tg := b.IDs[i*b.T:(i+1)*b.T], b.Targets[i*b.T:(i+1)*b.T]
		count := 0
		for t := range b.T {
			ids[t], tg[t] = 0, gpt.IgnoreIndex
			if t < L-1 {
				ids[t] = at(t)
			}
			if t+1 < L && t+1 >= p {
				tg[t] = at(t + 1)
				count++
			}
		}
		b.Lengths[i] = count
	}
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// FillPairs lays out 2B rows for B pairs: the B prompt+chosen rows, then
// the B prompt+rejected rows, so that the first half of the sequence
// log-probabilities is the chosen and the second the rejected.
func (b *Batch) FillPairs(pairs []PairTokens) {
	b.rows = b.rows[:0]
	for _, p := range pairs {
		b.rows = append(b.rows, Row{p.Prompt, p.Chosen})
	}
	for _, p := range pairs {
		b.rows = append(b.rows, Row{p.Prompt, p.Rejected})
	}
	b.FillRows(b.rows)
	b.refBuf = b.refBuf[:0]
	for _, p := range pairs {
		if !p.HasRef {
			return
		}
		b.refBuf = append(b.refBuf, p.RefChosen)
	}
	for _, p := range pairs {
		b.refBuf = append(b.refBuf, p.RefRejected)
	}
	b.Ref = b.refBuf
}

// FillUnpaired lays out one row per example and records the labels.
func (b *Batch) FillUnpaired(items []UnpairedTokens) {
	b.rows = b.rows[:0]
	for _, u := range items {
		b.rows = append(b.rows, Row{u.Prompt, u.Completion})
	}
	b.FillRows(b.rows)
	for _, u := range items {
		b.Desirable = append(b.Desirable, u.Desirable)
	}
	b.refBuf = b.refBuf[:0]
	for _, u := range items {
		if !u.HasRef {
			return
		}
		b.refBuf = append(b.refBuf, u.Ref)
	}
	b.Ref = b.refBuf
}

// FillMismatched lays out KTO's reference-point rows: example i's prompt
// with example i-1's completion (cyclically), whose mean log-ratio
// estimates the KL term. Keep the order of the examples stable from one
// epoch to the next (sequential sampling), as KTO requires.
func (b *Batch) FillMismatched(items []UnpairedTokens) {
	b.rows = b.rows[:0]
	for i, u := range items {
		prev := items[(i+len(items)-1)%len(items)]
		b.rows = append(b.rows, Row{u.Prompt, prev.Completion})
	}
	b.FillRows(b.rows)
}

// FillLists lays out the completions of each list one after the other and
// records their scores and the list sizes.
func (b *Batch) FillLists(lists []ListTokens) {
	b.rows = b.rows[:0]
	for _, l := range lists {
		for _, c := range l.Completions {
			b.rows = append(b.rows, Row{l.Prompt, c})
		}
	}
	b.FillRows(b.rows)
	for _, l := range lists {
		for _, s := range l.Scores {
			b.Scores = append(b.Scores, float32(s))
		}
		b.ListSizes = append(b.ListSizes, len(l.Completions))
	}
	b.refBuf = b.refBuf[:0]
	for _, l := range lists {
		if len(l.Ref) != len(l.Completions) {
			return
		}
		b.refBuf = append(b.refBuf, l.Ref...)
	}
	b.Ref = b.refBuf
}
