package gpt

import (
	"errors"
	"fmt"
)

// Config describes a model's shape.
type Config struct {
	Vocab   int     // vocabulary size (256 for bytes)
	Context int     // longest sequence the model sees (position embeddings)
	Dim     int     // embedding width
	Layers  int     // transformer blocks
	Heads   int     // attention heads; must divide Dim
	MLP     int     // hidden width of the MLP; 0 means 4*Dim
	Dropout float32 // dropout probability after attention, MLP and embeddings; 0 disables
	Untied  bool    // give the head its own weights instead of sharing the token embedding
	NoBias  bool    // drop the biases of linear layers and LayerNorms
}

// Tiny is the 0.8M-parameter model that trains in minutes on two cores
// (d=128, 4 layers, 4 heads, context 128, bytes).
func Tiny() Config { return Config{Vocab: 256, Context: 128, Dim: 128, Layers: 4, Heads: 4} }

// Small is a 10.8M-parameter model (d=384, 6 layers, 6 heads, context 256, bytes).
func Small() Config { return Config{Vocab: 256, Context: 256, Dim: 384, Layers: 6, Heads: 6} }

// Preset returns a named configuration: "tiny" or "small".
func Preset(name string) (Config, error) {
	switch name {
	case "tiny":
		return Tiny(), nil
	case "small":
		return Small(), nil
	}
	return Config{}, fmt.Errorf("gpt: unknown model size %q (want tiny or small)", name)
}

// Hidden returns the MLP's hidden width.
func (c Config) Hidden() int {
	if c.MLP == 0 {
		return 4 * c.Dim
	}
	return c.MLP
}

// Validate reports the first thing wrong with the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.Vocab <= 0 {
		errs = append(errs, fmt.Errorf("vocab %d must be positive", c.Vocab))
	}
	if c.Context <= 0 {
		errs = append(errs, fmt.Errorf("context %d must be positive", c.Context))
	}
	if c.Dim <= 0 || c.Layers <= 0 || c.Heads <= 0 {
		errs = append(errs, fmt.Errorf("dim %d, layers %d and heads %d must be positive", c.Dim, c.Layers, c.Heads))
	} else if c.Dim%c.Heads != 0 {
		errs = append(errs, fmt.Errorf("dim %d is not divisible by heads %d", c.Dim, c.Heads))
	}
	if c.MLP < 0 {
		errs = append(errs, fmt.Errorf("MLP width %d must not be negative", c.MLP))
	}
	if c.Dropout < 0 || c.Dropout >= 1 {
		errs = append(errs, fmt.Errorf("dropout %v must be in [0, 1)", c.Dropout))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("gpt: invalid config: %w", err)
	}
	return nil
}
