package gpt

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/kiln-ml/kiln/kernels"
)

// Sampling chooses the next token from logits.
type Sampling struct {
	Greedy      bool    // always pick the most likely token; the fields below are then ignored
	Temperature float32 // divides the logits; 0 means 1
	TopK        int     // keep only the k most likely tokens (0: all)
	TopP        float32 // keep the smallest set whose probability reaches p (0 or 1: all)
}

// GenerateConfig controls Generate.
type GenerateConfig struct {
	MaxTokens int      // tokens to generate after the prompt
	Sampling  Sampling // how to pick each token
	Seed      uint64   // seeds the sampler: same seed, same text
	// Stop, if set, is called after every token with all tokens generated so
	// far; generation ends when it returns true.
	Stop func(generated []int) bool
}

// Validate reports settings that cannot work.
func (s Sampling) Validate() error {
	switch {
	case s.Temperature < 0 || math.IsNaN(float64(s.Temperature)):
		return fmt.Errorf("gpt: temperature %v must be >= 0", s.Temperature)
	case s.TopK < 0:
		return fmt.Errorf("gpt: top-k %d must be >= 0", s.TopK)
	case s.TopP < 0 || s.TopP > 1:
		return fmt.Errorf("gpt: top-p %v must be in [0, 1]", s.TopP)
	}
	return nil
}

// Generate continues prompt by up to cfg.MaxTokens tokens and returns the
// generated tokens (without the prompt). It runs the model incrementally with
// a key/value cache; past the context length it keeps the most recent half
// of the context and recomputes the cache from it.
func (m *Model) Generate(prompt []int, cfg GenerateConfig) ([]int, error) {
	if err := cfg.Sampling.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaxTokens < 0 {
		return nil, fmt.Errorf("gpt: max tokens %d must be >= 0", cfg.MaxTokens)
	}
	if len(prompt) == 0 {
		return nil, errors.New("gpt: empty prompt: give at least one token")
	}
	for i, id := range prompt {
		if id < 0 || id >= m.Config.Vocab {
			return nil, fmt.Errorf("gpt: prompt token %d at position %d is outside the vocabulary [0, %d)", id, i, m.Config.Vocab)
		}
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x6b696c6e))
	s := m.NewSession()
	if len(prompt) > m.Config.Context {
		prompt = prompt[len(prompt)-m.Config.Context:]
	}
	var logits []float32
	for _, id := range prompt {
		logits = s.Next(id)
	}
	var out []int
	probs := make([]float32, m.Config.Vocab)
	for len(out) < cfg.MaxTokens {
		id := cfg.Sampling.Pick(logits, probs, rng)
		out = append(out, id)
		if cfg.Stop != nil && cfg.Stop(out) {
			break
		}
		if len(out) == cfg.MaxTokens {
			break
		}
		logits = s.Next(id)
	}
	return out, nil
}

// Session runs the model one token at a time with a key/value cache: a
// one-row BatchSession that keeps its history, so that it can slide past the
// context length.
type Session struct {
	b       *BatchSession
	history []int // tokens in the cache, oldest first
	id, pos [1]int
}

// NewSession returns an empty incremental-inference session.
func (m *Model) NewSession() *Session {
	return &Session{b: m.NewBatchSession(1, m.Config.Context)}
}

// Len returns the number of tokens in the cache.
func (s *Session) Len() int { return len(s.history) }

// Next feeds one token and returns the logits for the token after it. The
// slice is reused by the next call. Past the context length the session
// keeps the most recent half of its tokens and recomputes their cache.
func (s *Session) Next(id int) []float32 {
	c := s.b.m.Config
	if id < 0 || id >= c.Vocab {
		panic(fmt.Sprintf("gpt.Session.Next: token %d outside the vocabulary [0, %d)", id, c.Vocab))
	}
	if len(s.history) == c.Context {
		keep := slices.Clone(s.history[len(s.history)-c.Context/2:])
		s.history = s.history[:0]
		for _, t := range keep {
			s.step(t)
		}
	}
	return s.step(id)
}

func (s *Session) step(id int) []float32 {
	s.id[0], s.pos[0] = id, len(s.history)
	s.history = append(s.history, id)
	return s.b.Next(s.id[:], s.pos[:])
}

// Pick chooses a token from logits as the settings say, drawing from rng;
// probs is scratch of the same length as logits.
func (cfg Sampling) Pick(logits, probs []float32, rng *rand.Rand) int {
	if cfg.Temperature == 0 {
		cfg.Temperature = 1
	}
	if cfg.Greedy {
		best := 0
		for i, v := range logits {
			if v > logits[best] {
				best = i
			}
		}
		return best
	}
	kernels.Scale(probs, logits, 1/cfg.Temperature)
	kernels.SoftmaxRows(probs, probs, 1, len(probs))
	if (cfg.TopK > 0 && cfg.TopK < len(probs)) || (cfg.TopP > 0 && cfg.TopP < 1) {
		idx := make([]int, len(probs))
		for i := range idx {
			idx[i] = i
		}
		// Most likely first; ties by id so the order is deterministic.
		sort.SliceStable(idx, func(a, b int) bool { return probs[idx[a]] > probs[idx[b]] })
		keep := len(idx)
		if cfg.TopK > 0 && cfg.TopK < keep {
			keep = cfg.TopK
		}
		if cfg.TopP > 0 && cfg.TopP < 1 {
			var cum float32
			for i := 0; i < keep; i++ {
				cum += probs[idx[i]]
				if cum >= cfg.TopP {
					keep = i + 1
					break
				}
			}
		}
		for _, i := range idx[keep:] {
			probs[i] = 0
		}
	}
	var total float64
	for _, p := range probs {
		total += float64(p)
	}
	u := rng.Float64() * total
	var acc float64
	last := 0
	for i, p := range probs {
		if p == 0 {
			continue
		}
		acc += float64(p)
		last = i
		if u < acc {
			return i
		}
	}
	return last
}
