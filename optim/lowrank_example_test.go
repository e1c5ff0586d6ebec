package optim_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/kiln-ml/kiln/models/gpt"
	"github.com/kiln-ml/kiln/optim"
)

// GaLore on a GPT: the attention and MLP matrices are projected to rank 32,
// everything else is trained by the base optimizer as it is.
func ExampleNewGaLore() {
	model, err := gpt.New(gpt.Config{Vocab: 256, Context: 64, Dim: 128, Layers: 2, Heads: 4}, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		panic(err)
	}
	opt, err := optim.NewGaLore(model.Parameters(), optim.LowRankConfig{LR: 0.01, Rank: 32, UpdateGap: 200, Scale: 0.25})
	if err != nil {
		panic(err)
	}
	for _, p := range opt.Projections()[:4] {
		fmt.Printf("%-25s %4dx%-4d rank %d, %s side, moments %dx%d\n", p.Param, p.Rows, p.Cols, p.Rank, p.Side, p.LowRank[0], p.LowRank[1])
	}
	adamw, _ := optim.NewAdamW(model.Parameters(), optim.AdamWConfig{})
	fmt.Printf("state: %.2f MB (AdamW %.2f MB)\n", float64(opt.StateBytes())/1e6, float64(adamw.StateBytes())/1e6)
	// Output:
	// blocks.0.attn.qkv.weight   384x128  rank 32, right side, moments 384x32
	// blocks.0.attn.proj.weight  128x128  rank 32, right side, moments 128x32
	// blocks.0.mlp.fc.weight     512x128  rank 32, right side, moments 512x32
	// blocks.0.mlp.proj.weight   128x512  rank 32, left side, moments 32x512
	// state: 1.27 MB (AdamW 3.50 MB)
}

// The constructor by name a command line uses, with the flags of
// `kiln train --optimizer fira --rank 64 --update-gap 200 --galore-scale 0.25`.
func ExampleNewLowRank() {
	model, err := gpt.New(gpt.Tiny(), rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		panic(err)
	}
	opt, err := optim.NewLowRank("fira", model.Parameters(), optim.LowRankConfig{LR: 0.01, Rank: 64, UpdateGap: 200, Scale: 0.25})
	if err != nil {
		panic(err)
	}
	fmt.Println(opt.Kind(), len(opt.Projections()), "matrices projected")
	_, err = optim.NewLowRank("fira", model.Parameters(), optim.LowRankConfig{Rank: -4})
	fmt.Println(err)
	// Output:
	// fira 16 matrices projected
	// optim.NewFira: invalid config: rank -4 must be at least 1 (0 takes the default 128)
}
