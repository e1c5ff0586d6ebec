package align

import (
	"testing"

	"github.com/kiln-ml/kiln/autograd"
	"github.com/kiln-ml/kiln/tensor"
)

// BenchmarkDPOStep is one DPO step on the tiny GPT: batch fill, policy
// forward, reference scoring, loss, backward, tape reset.
func BenchmarkDPOStep(b *testing.B) {
	m := tinyModel(b, 1)
	ref, err := NewReference(m)
	if err != nil {
		b.Fatal(err)
	}
	pairs := tinyPairs(b)
	l := mustNewB(b, "sigmoid")
	batch := NewBatch(tinyConfig.Context)
	tape := autograd.NewTape()
	met := Metrics{}
	var refLp []float32
	b.ReportAllocs()
	for b.Loop() {
		batch.FillPairs(pairs)
		lp := SequenceLogProbs(m.Forward(tape, batch.IDs, batch.Rows, batch.T), batch)
		refLp = ref.LogProbs(batch, refLp)
		l.Compute(&Inputs{Tape: tape, Logps: lp, Ref: refLp, Lengths: batch.Lengths}, met).Backward()
		for _, p := range m.Parameters() {
			p.ZeroGrad()
		}
		tape.Reset()
	}
}

// BenchmarkLoss is the loss alone on 64 pairs of log-probabilities.
func BenchmarkLoss(b *testing.B) {
	for _, name := range []string{"sigmoid", "ipo", "orpo", "aot"} {
		b.Run(name, func(b *testing.B) {
			l := mustNewB(b, name)
			const B = 64
			lp := make([]float32, 2*B)
			ref := make([]float32, 2*B)
			lens := make([]int, 2*B)
			for i := range lp {
				lp[i], ref[i], lens[i] = -float32(i%7)-1, -float32(i%5)-1, 1+i%9
			}
			param := autograd.Param(tensor.FromSlice(lp, 2*B))
			zeros := tensor.New(2 * B)
			tape := autograd.NewTape()
			in := &Inputs{Tape: tape, Ref: ref, Lengths: lens}
			met := Metrics{}
			b.ReportAllocs()
			for b.Loop() {
				in.Logps = autograd.Add(param, tape.Const(zeros)) // recorded on the tape, as a model's output is
				l.Compute(in, met).Backward()
				param.ZeroGrad()
				tape.Reset()
			}
		})
	}
}

func mustNewB(b *testing.B, name string) Loss {
	l, err := New(name, nil)
	if err != nil {
		b.Fatal(err)
	}
	return l
}
