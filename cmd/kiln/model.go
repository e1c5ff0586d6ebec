package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"

	"github.com/kiln-ml/kiln/models/gpt"
	"github.com/kiln-ml/kiln/models/tokenizer"
	"github.com/kiln-ml/kiln/train"
)

// Checkpoint metadata keys written by kiln train and read by the other commands.
const (
	metaModel     = "model"
	metaTokenizer = "tokenizer"
)

func modelMeta(cfg gpt.Config, tok tokenizer.Tokenizer) map[string]string {
	b, _ := json.Marshal(cfg)
	return map[string]string{metaModel: string(b), metaTokenizer: tok.Name()}
}

// openModel rebuilds the model saved in a kiln checkpoint and loads its weights.
func openModel(path string) (*gpt.Model, *train.CheckpointFile, tokenizer.Tokenizer, error) {
	c, err := train.OpenCheckpoint(path)
	if err != nil {
		return nil, nil, nil, err
	}
	cfg, err := checkpointConfig(c)
	if err != nil {
		return nil, nil, nil, err
	}
	m, err := gpt.New(cfg, rand.New(rand.NewPCG(0, 0)))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if err := c.LoadParams(m.Parameters()); err != nil {
		return nil, nil, nil, err
	}
	tok, err := checkpointTokenizer(c)
	if err != nil {
		return nil, nil, nil, err
	}
	return m, c, tok, nil
}

func checkpointConfig(c *train.CheckpointFile) (gpt.Config, error) {
	var cfg gpt.Config
	raw, ok := c.Meta[metaModel]
	if !ok {
		return cfg, fmt.Errorf("checkpoint %s does not say which model it holds (no %q metadata)", c.Path, metaModel)
	}
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		return cfg, fmt.Errorf("checkpoint %s: model config: %w", c.Path, err)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	// The model is built from this config before its weights are loaded
	// and their shapes checked: a config much larger than the file would
	// make kiln allocate what it asks for, however small the file.
	if want, have := weightCount(cfg), float64(c.NumParams()); want > 2*have+1e6 {
		return cfg, fmt.Errorf("checkpoint %s: its model config (vocab %d, context %d, dim %d, %d layers, MLP %d) describes about %.3g weights, but the file holds %d",
			c.Path, cfg.Vocab, cfg.Context, cfg.Dim, cfg.Layers, cfg.Hidden(), want, int(have))
	}
	return cfg, nil
}

// weightCount is about the number of weights of a GPT of config cfg, the
// embeddings and the blocks' matrices, counted in float64 so that no config
// overflows it.
func weightCount(cfg gpt.Config) float64 {
	v, c, d, l, h := float64(cfg.Vocab), float64(cfg.Context), float64(cfg.Dim), float64(cfg.Layers), float64(cfg.Hidden())
	n := v*d + c*d + l*(4*d*d+2*d*h)
	if cfg.Untied {
		n += v * d
	}
	return n
}

func checkpointTokenizer(c *train.CheckpointFile) (tokenizer.Tokenizer, error) {
	switch name := c.Meta[metaTokenizer]; name {
	case "", "byte":
		return tokenizer.ByteLevel{}, nil
	default:
		return nil, fmt.Errorf("checkpoint %s uses tokenizer %q, which this kiln does not know", c.Path, name)
	}
}
