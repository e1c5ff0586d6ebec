package align_test

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/kiln-ml/kiln/align"
	"github.com/kiln-ml/kiln/models/gpt"
	"github.com/kiln-ml/kiln/models/tokenizer"
	"github.com/kiln-ml/kiln/optim"
)

// A whole alignment run on a small model: the model's own samples of a few
// prompts, ranked by a rule (fewer letters "e" is better), make the
// preference pairs; DPO trains on them; a probe measures the rule on fresh
// samples and the KL to the starting model.
func ExampleTrainer() {
	model, err := gpt.New(gpt.Config{Vocab: 256, Context: 32, Dim: 16, Layers: 1, Heads: 2}, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		panic(err)
	}
	tok := tokenizer.ByteLevel{}
	rule, err := align.ParseRule("avoid:e")
	if err != nil {
		panic(err)
	}
	prompts := []string{"The Light ", "Rays of ", "A Prism ", "The Sun ", "Colours ", "Glass "}
	sample := align.SampleConfig{Tokens: 8, Seed: 1}
	groups, err := align.SampleGroups(context.Background(), model, tok, prompts, 4, rule, sample)
	if err != nil {
		panic(err)
	}
	pairs := align.DataFromGroups(align.PairedData, groups, 0)

	loss, err := align.New("sigmoid", align.Options{"beta": 0.5})
	if err != nil {
		panic(err)
	}
	opt, err := optim.New("adamw", model.Parameters(), 1e-2, 0)
	if err != nil {
		panic(err)
	}
	tr, err := align.NewTrainer(align.TrainerConfig{Steps: 20, Batch: 4, LR: 1e-2, ClipNorm: 1}, model, loss, opt, pairs, nil)
	if err != nil {
		panic(err)
	}
	res, err := tr.Run(context.Background()) // OutDir "" writes nothing
	if err != nil {
		panic(err)
	}
	probe := align.Probe{Prompts: [][]int{tok.Encode("The ")}, Rule: rule, Tokenizer: tok, Sample: sample}
	after, err := probe.Run(context.Background(), tr.Policy, tr.Ref)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%d steps on %d pairs, loss below ln 2: %v, KL to the start measured: %v\n",
		res.Steps, len(pairs.Pairs), res.Loss < 0.69, after.KL > 0)
	// Output:
	// 20 steps on 3 pairs, loss below ln 2: true, KL to the start measured: true
}
