package gpt

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/kiln-ml/kiln/autograd"
	"github.com/kiln-ml/kiln/nn"
)

// Block is one pre-LayerNorm transformer block.
type Block struct {
	LN1  *nn.LayerNorm
	Attn *nn.CausalSelfAttention
	LN2  *nn.LayerNorm
	MLP  *nn.MLP
}

// Model is a GPT.
type Model struct {
	Config Config
	Tok    *nn.Embedding // [vocab, dim]
	Pos    *nn.Embedding // [context, dim]
	Blocks []*Block
	LNF    *nn.LayerNorm
	Head   *nn.Linear // nil when tied to Tok

	params   []*autograd.Var
	posIDs   []int
	dropout  *rand.Rand // nil in evaluation mode
	training bool
}

// New returns a model with GPT-2's initialisation: weights N(0, 0.02), the
// residual projections scaled by 1/sqrt(2*layers), biases 0, norms 1.
func New(cfg Config, rng *rand.Rand) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	init := nn.Normal(0.02)
	projInit := nn.Normal(float32(0.02 / math.Sqrt(2*float64(cfg.Layers))))
	bias := !cfg.NoBias
	m := &Model{
		Config: cfg,
		Tok:    nn.NewEmbedding("wte", cfg.Vocab, cfg.Dim, init, rng),
		Pos:    nn.NewEmbedding("wpe", cfg.Context, cfg.Dim, init, rng),
	}
	for i := 0; i < cfg.Layers; i++ {
		name := fmt.Sprintf("blocks.%d", i)
		m.Blocks = append(m.Blocks, &Block{
			LN1:  nn.NewLayerNorm(nn.Join(name, "ln1"), cfg.Dim, bias),
			Attn: nn.NewCausalSelfAttention(nn.Join(name, "attn"), cfg.Dim, cfg.Heads, bias, init, projInit, rng),
			LN2:  nn.NewLayerNorm(nn.Join(name, "ln2"), cfg.Dim, bias),
			MLP:  nn.NewMLP(nn.Join(name, "mlp"), cfg.Dim, cfg.Hidden(), bias, init, projInit, rng),
		})
	}
	m.LNF = nn.NewLayerNorm("lnf", cfg.Dim, bias)
	if cfg.Untied {
		m.Head = nn.NewLinear("head", cfg.Dim, cfg.Vocab, false, init, rng)
	}
	m.params = append(m.params, m.Tok.Parameters()...)
	m.params = append(m.params, m.Pos.Parameters()...)
	for _, b := range m.Blocks {
		m.params = append(m.params, b.LN1.Parameters()...)
		m.params = append(m.params, b.Attn.Parameters()...)
		m.params = append(m.params, b.LN2.Parameters()...)
		m.params = append(m.params, b.MLP.Parameters()...)
	}
	m.params = append(m.params, m.LNF.Parameters()...)
	if m.Head != nil {
		m.params = append(m.params, m.Head.Parameters()...)
	}
	m.posIDs = make([]int, cfg.Context)
	for i := range m.posIDs {
		m.posIDs[i] = i
	}
	return m, nil
}

// Parameters returns every parameter once, in a fixed order.
func (m *Model) Parameters() []*autograd.Var { return m.params }

// NumParams returns the number of trainable values.
func (m *Model) NumParams() int { return nn.NumParams(m.params) }

// Train switches dropout on, drawing masks from rng (it is off by default,
// and off after Eval). Nothing changes when the config's dropout is 0.
func (m *Model) Train(rng *rand.Rand) { m.training, m.dropout = true, rng }

// Eval switches dropout off.
func (m *Model) Eval() { m.training, m.dropout = false, nil }

func (m *Model) drop(x *autograd.Var) *autograd.Var {
	if !m.training || m.Config.Dropout == 0 {
		return x
	}
	return autograd.Dropout(x, m.Config.Dropout, m.dropout)
}

func (m *Model) checkIDs(op string, ids []int, B, T int) {
	if B <= 0 || T <= 0 || T > m.Config.Context {
		panic(fmt.Sprintf("gpt.%s: batch %d x length %d does not fit the model (context %d)", op, B, T, m.Config.Context))
	}
	if len(ids) != B*T {
		panic(fmt.Sprintf("gpt.%s: %d token ids for a batch of %d x %d", op, len(ids), B, T))
	}
}

// Hidden returns the final normalised hidden states [B, T, dim] for token
// ids [B*T] (row-major [B, T]).
func (m *Model) Hidden(tape *autograd.Tape, ids []int, B, T int) *autograd.Var {
	m.checkIDs("Forward", ids, B, T)
	x := autograd.Add(m.Tok.Forward(tape, ids, B, T), m.Pos.Forward(tape, m.posIDs[:T], T))
	x = m.drop(x)
	for _, b := range m.Blocks {
		x = autograd.Add(x, m.drop(b.Attn.Forward(b.LN1.Forward(x))))
		x = autograd.Add(x, m.drop(b.MLP.Forward(b.LN2.Forward(x))))
	}
	return m.LNF.Forward(x)
}

// Forward returns the logits [B, T, vocab] for token ids [B*T].
func (m *Model) Forward(tape *autograd.Tape, ids []int, B, T int) *autograd.Var {
	return m.head(m.Hidden(tape, ids, B, T))
}

func (m *Model) head(h *autograd.Var) *autograd.Var {
	if m.Head != nil {
		return m.Head.Forward(h)
	}
	return autograd.Linear(h, m.Tok.Weight, nil)
}

// Loss returns the mean cross-entropy of predicting targets [B*T] from
// ids [B*T]; targets equal to IgnoreIndex do not count.
func (m *Model) Loss(tape *autograd.Tape, ids, targets []int, B, T int) *autograd.Var {
	if len(targets) != len(ids) {
		panic(fmt.Sprintf("gpt.Loss: %d targets for %d ids", len(targets), len(ids)))
	}
	logits := m.Forward(tape, ids, B, T)
	return autograd.CrossEntropy(autograd.Reshape(logits, B*T, m.Config.Vocab), targets, IgnoreIndex)
}

// IgnoreIndex marks target positions that do not count in Loss.
const IgnoreIndex = -100
