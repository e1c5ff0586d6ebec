// Command embed trains a tiny GPT inside a Go program, stoppable through its context.
package main

import (
	"context"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"os/signal"

	"github.com/kiln-ml/kiln/models/data"
	"github.com/kiln-ml/kiln/models/gpt"
	"github.com/kiln-ml/kiln/models/tokenizer"
	"github.com/kiln-ml/kiln/optim"
	"github.com/kiln-ml/kiln/train"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ds, err := data.Load("", tokenizer.ByteLevel{}, 0.1) // "" is the corpus that ships with Go
	model, err2 := gpt.New(gpt.Config{Vocab: 256, Context: 64, Dim: 64, Layers: 2, Heads: 4}, rand.New(rand.NewPCG(1, 2)))
	if err != nil || err2 != nil {
		log.Fatal(err, err2)
	}
	opt, _ := optim.New("adamw", model.Parameters(), 3e-3, 0.1)
	tr, err := train.New(train.Config{Steps: 200, Batch: 16, Context: 64, LR: 3e-3, ClipNorm: 1, OutDir: "runs/embed"}, model, opt, ds)
	if err != nil {
		log.Fatal(err)
	}
	tr.OnStep = func(r train.Record) {
		if r.ValLoss != nil {
			fmt.Printf("step %d: train %.3f, validation %.3f\n", r.Step, r.Loss, *r.ValLoss)
		}
	}
	res, err := tr.Run(ctx) // Ctrl-C saves a checkpoint and returns context.Canceled
	fmt.Printf("validation loss %.3f after %d steps (%.0f tokens/s), err=%v\n", res.ValLoss, res.Steps, res.TokensPerSec, err)
}
