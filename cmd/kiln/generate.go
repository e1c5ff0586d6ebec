package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/kiln-ml/kiln/models/gpt"
	"github.com/kiln-ml/kiln/models/tokenizer"
)

func init() {
	register(command{"generate", "continue a prompt with a trained model", runGenerate})
}

func runGenerate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("kiln generate", flag.ContinueOnError)
	ckpt := fs.String("checkpoint", "runs/tiny/checkpoint.safetensors", "checkpoint written by kiln train or kiln align")
	prompt := fs.String("prompt", "The light ", "text to continue")
	n := fs.Int("tokens", 300, "tokens to generate")
	temp := fs.Float64("temperature", 0.8, "sampling temperature")
	topK := fs.Int("top-k", 0, "sample only among the k most likely tokens (0: all)")
	topP := fs.Float64("top-p", 0, "sample from the smallest set of tokens whose probability reaches p (0: all)")
	greedy := fs.Bool("greedy", false, "always pick the most likely token")
	seed := fs.Uint64("seed", 1, "sampling seed")
	stop := fs.String("stop", "", `stop when the generated text contains this string (escapes like \n work)`)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: kiln generate [flags]\n\nContinues --prompt with a trained model, printing tokens as they come.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	model, _, tok, err := openModel(*ckpt)
	if err != nil {
		return err
	}
	stopText := strings.NewReplacer(`\n`, "\n", `\t`, "\t").Replace(*stop)
	dec := tokenizer.NewStreamDecoder(tok)
	var text strings.Builder
	fmt.Print(*prompt)
	cfg := gpt.GenerateConfig{
		MaxTokens: *n, Seed: *seed,
		Sampling: gpt.Sampling{Greedy: *greedy, Temperature: float32(*temp), TopK: *topK, TopP: float32(*topP)},
		Stop: func(g []int) bool {
			s := dec.Next(g[len(g)-1])
			fmt.Print(s)
			text.WriteString(s)
			return ctx.Err() != nil || (stopText != "" && strings.Contains(text.String(), stopText))
		},
	}
	_, err = model.Generate(tok.Encode(*prompt), cfg)
	fmt.Println(dec.Flush())
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr)
	}
	return err
}
