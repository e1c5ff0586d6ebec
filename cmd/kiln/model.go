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
	return cfg, cfg.Validate()
}

func checkpointTokenizer(c *train.CheckpointFile) (tokenizer.Tokenizer, error) {
	switch name := c.Meta[metaTokenizer]; name {
	case "", "byte":
		return tokenizer.ByteLevel{}, nil
	default:
		return nil, fmt.Errorf("checkpoint %s uses tokenizer %q, which this kiln does not know", c.Path, name)
	}
}
