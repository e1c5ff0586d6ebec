package bench

import (
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/kiln-ml/kiln/autograd"
	"github.com/kiln-ml/kiln/models/data"
	"github.com/kiln-ml/kiln/models/gpt"
	"github.com/kiln-ml/kiln/models/tokenizer"
)

// gptTask is a byte-level GPT, smaller than kiln train's tiny preset so
// that a sweep fits in minutes, trained on the default corpus.
type gptTask struct {
	corpus     string
	model      gpt.Config
	batch      int
	steps      int
	valWindows int

	once sync.Once
	ds   *data.Dataset
	err  error
	valX []int // fixed validation windows, spread evenly over the split
	valY []int
}

func newGPTTask(corpus string) *gptTask {
	return &gptTask{
		corpus:     corpus,
		model:      gpt.Config{Vocab: 256, Context: 64, Dim: 64, Layers: 2, Heads: 4},
		batch:      8,
		steps:      200,
		valWindows: 64,
	}
}

func (t *gptTask) Name() string { return "gpt" }

func (t *gptTask) Description() string {
	return fmt.Sprintf("byte-level GPT (d=%d, %d layers, %d heads, context %d, batch %d) on %s",
		t.model.Dim, t.model.Layers, t.model.Heads, t.model.Context, t.batch, corpusName(t.corpus))
}

func corpusName(path string) string {
	if path == "" {
		return "the default corpus (Opticks)"
	}
	return path
}

func (t *gptTask) Budget(scale float64) Budget { return scaled(t.steps, scale, 10, 1) }

// LR centres the sweep: AdamW's is that of short tiny-GPT runs; Lion's is
// a few times smaller, as its paper advises; SGD (momentum 0.9) needs much
// larger rates; the low-rank optimizers scale their projected updates by
// α = 0.25 and so sit above AdamW, as in their papers (0.01 vs 0.001).
func (t *gptTask) LR(optimizer string) float64 {
	return lrCentres{"sgd": 0.2, "adamw": 2e-3, "lion": 5e-4, "galore": 6.4e-2, "natural-galore": 3.2e-2, "fira": 1.6e-2}.centre(optimizer)
}

func (t *gptTask) Rank() int { return t.model.Dim / 4 }

func (t *gptTask) LowRankTarget() func(*autograd.Var) bool { return nil }

func (t *gptTask) Settings() map[string]any {
	return map[string]any{
		"model": t.model, "batch": t.batch, "steps": t.steps, "corpus": t.corpus,
		"val_windows": t.valWindows, "val_fraction": 0.1,
	}
}

// Prepare reads and splits the corpus once, and picks the validation
// windows.
func (t *gptTask) Prepare() error {
	t.once.Do(func() {
		var tok tokenizer.ByteLevel
		t.ds, t.err = data.Load(t.corpus, tok, 0.1)
		if t.err != nil {
			return
		}
		T := t.model.Context
		n := (len(t.ds.Val) - 1) / T
		if n < 1 {
			t.err = fmt.Errorf("bench: the validation split of %s has %d tokens, fewer than one window of %d", t.ds.Path, len(t.ds.Val), T+1)
			return
		}
		w := min(t.valWindows, n)
		for i := range w {
			start := (i * n / w) * T
			t.valX = append(t.valX, t.ds.Val[start:start+T]...)
			t.valY = append(t.valY, t.ds.Val[start+1:start+T+1]...)
		}
	})
	return t.err
}

func (t *gptTask) NewProblem(seed uint64) (Problem, error) {
	if err := t.Prepare(); err != nil {
		return nil, err
	}
	m, err := gpt.New(t.model, rand.New(rand.NewPCG(seed, 0x6770742d696e6974)))
	if err != nil {
		return nil, err
	}
	s, err := data.NewSampler(t.ds.Train, t.batch, t.model.Context, rand.NewPCG(seed, 0x6770742d64617461))
	if err != nil {
		return nil, fmt.Errorf("bench: gpt training data: %w", err)
	}
	return &gptProblem{t: t, m: m, s: s}, nil
}

type gptProblem struct {
	t *gptTask
	m *gpt.Model
	s *data.Sampler
	b data.Batch
}

func (p *gptProblem) Params() []*autograd.Var { return p.m.Parameters() }

func (p *gptProblem) TrainLoss(tape *autograd.Tape) *autograd.Var {
	p.s.NextInto(&p.b)
	return p.m.Loss(tape, p.b.X, p.b.Y, p.b.B, p.b.T)
}

func (p *gptProblem) ValLoss(tape *autograd.Tape) float64 {
	T := p.t.model.Context
	rows := len(p.t.valX) / T
	var sum float64
	for r := 0; r < rows; r += p.t.batch {
		b := min(p.t.batch, rows-r)
		loss := p.m.Loss(tape, p.t.valX[r*T:(r+b)*T], p.t.valY[r*T:(r+b)*T], b, T)
		sum += float64(loss.Item()) * float64(b)
		tape.Reset()
	}
	return sum / float64(rows)
}
