package align_test

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/kiln-ml/kiln/align"
	"github.com/kiln-ml/kiln/autograd"
	"github.com/kiln-ml/kiln/models/gpt"
	"github.com/kiln-ml/kiln/models/tokenizer"
)

// One DPO step on a tiny model: at the start the policy equals its
// reference, so the loss is ln 2 and every reward is 0.
func Example() {
	data := `{"prompt": "2+2=", "chosen": "4", "rejected": "5"}
{"chosen": "The sky is blue.", "rejected": "The sky is green."}`
	pairs, err := align.ReadPairs(strings.NewReader(data), "prefs.jsonl")
	if err != nil {
		panic(err)
	}
	model, err := gpt.New(gpt.Config{Vocab: 256, Context: 32, Dim: 16, Layers: 1, Heads: 2}, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		panic(err)
	}
	cfg := align.TokenizeConfig{Context: model.Config.Context, Vocab: model.Config.Vocab}
	toks, report, err := align.TokenizePairs(pairs, tokenizer.ByteLevel{}, cfg)
	if err != nil {
		panic(err)
	}
	ref, err := align.NewReference(model)
	if err != nil {
		panic(err)
	}
	loss, err := align.New("sigmoid", align.Options{"beta": 0.1})
	if err != nil {
		panic(err)
	}

	batch := align.NewBatch(cfg.Context)
	batch.FillPairs(toks)
	tape := autograd.NewTape()
	logps := align.SequenceLogProbs(model.Forward(tape, batch.IDs, batch.Rows, batch.T), batch)
	metrics := align.Metrics{}
	l := loss.Compute(&align.Inputs{Tape: tape, Logps: logps, Ref: ref.LogProbs(batch, nil), Lengths: batch.Lengths}, metrics)
	l.Backward()

	fmt.Println(report)
	fmt.Printf("prompt %q, chosen %q\n", pairs[1].Prompt, pairs[1].Chosen)
	fmt.Printf("loss %.6f, margins %.1f, accuracy %.1f\n", l.Item(), metrics["rewards/margins"], metrics["rewards/accuracies"])
	// Output:
	// 2 examples, 2 kept, 0 truncated, 0 dropped
	// prompt "The sky is", chosen " blue."
	// loss 0.693147, margins 0.0, accuracy 0.0
}
