package align

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"unicode"
	"unicode/utf8"

	"github.com/kiln-ml/kiln/models/gpt"
	"github.com/kiln-ml/kiln/models/tokenizer"
)

// Self-built preference data: prompts cut from a corpus, the model's own
// completions of them, ranked by a Rule. Everything is seeded per sample,
// so the result does not depend on the number of sampling goroutines.

// CorpusPrompts cuts n distinct prompts from text: each starts at the start
// of a word at a seeded random position and takes about size bytes, cut
// back to end just after a space or line break, so that the completion
// starts a new word. Prompts hold at least size/2 bytes and at least one
// letter. It fails when text has fewer than n such places.
func CorpusPrompts(text string, n, size int, seed uint64) ([]string, error) {
	if n <= 0 || size < 2 {
		return nil, fmt.Errorf("align: corpus prompts: want n > 0 prompts of size >= 2 bytes, got %d of %d", n, size)
	}
	var starts []int
	for i := 0; i+size <= len(text); i++ {
		if (i == 0 || isSpace(text[i-1])) && !isSpace(text[i]) {
			starts = append(starts, i)
		}
	}
	rng := rand.New(rand.NewPCG(seed, 0x70726f6d)) // "prom"
	rng.Shuffle(len(starts), func(i, j int) { starts[i], starts[j] = starts[j], starts[i] })
	seen := map[string]bool{}
	out := make([]string, 0, n)
	for _, s := range starts {
		p := text[s : s+size]
		cut := len(p)
		for cut > 0 && !isSpace(p[cut-1]) {
			cut--
		}
		p = p[:cut]
		if len(p) < size/2 || seen[p] || !utf8.ValidString(p) || !hasLetter(p) {
			continue
		}
		seen[p] = true
		out = append(out, p)
		if len(out) == n {
			return out, nil
		}
	}
	return nil, fmt.Errorf("align: corpus prompts: the text (%d bytes) has only %d distinct places for prompts of %d bytes, %d wanted", len(text), len(out), size, n)
}

func isSpace(b byte) bool { return b == ' ' || b == '\n' || b == '\t' || b == '\r' }

func hasLetter(s string) bool {
	for _, r := range s {
		if unicode.IsLetter(r) {
			return true
		}
	}
	return false
}

// SampleConfig says how completions are drawn from a model.
type SampleConfig struct {
	Tokens      int     // tokens per completion (required)
	Temperature float32 // 0 means 1, the model's own distribution
	Seed        uint64  // completion j of prompt i uses a seed derived from (Seed, i, j)
	// Rows is the number of completions sampled together in one batch
	// (default 64). Samples depend on the seed and, through rounding in
	// the batched products, on Rows, but not on the number of threads.
	Rows int
}

func (c SampleConfig) check(m *gpt.Model, prompts [][]int) error {
	if c.Tokens <= 0 {
		return fmt.Errorf("align: sampling: %d tokens per completion; want at least 1", c.Tokens)
	}
	if err := (gpt.Sampling{Temperature: c.Temperature}).Validate(); err != nil {
		return fmt.Errorf("align: sampling: %w", err)
	}
	for i, p := range prompts {
		if len(p) == 0 {
			return fmt.Errorf("align: sampling: prompt %d is empty", i)
		}
		if len(p)+c.Tokens > m.Config.Context {
			return fmt.Errorf("align: sampling: prompt %d has %d tokens; with %d completion tokens it exceeds the model's context of %d (use shorter prompts or fewer tokens)",
				i, len(p), c.Tokens, m.Config.Context)
		}
	}
	return nil
}

// sampleSeed derives the seed of completion j of prompt i.
func sampleSeed(seed uint64, i, j int) uint64 {
	return splitmix(seed ^ splitmix(uint64(i)<<20^uint64(j)+0x9e3779b97f4a7c15))
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Sample draws k completions of cfg.Tokens tokens for each prompt:
// out[i][j] is completion j of prompt i. Prompt and completion must fit the
// model's context. It stops early with ctx's error.
func Sample(ctx context.Context, m *gpt.Model, prompts [][]int, k int, cfg SampleConfig) ([][][]int, error) {
	if k <= 0 {
		return nil, fmt.Errorf("align: sampling: %d completions per prompt; want at least 1", k)
	}
	if err := cfg.check(m, prompts); err != nil {
		return nil, err
	}
	out := make([][][]int, len(prompts))
	for i := range out {
		out[i] = make([][]int, k)
	}
	rows := cfg.Rows
	if rows <= 0 {
		rows = 64
	}
	n := len(prompts) * k
	for lo := 0; lo < n; lo += rows {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hi := min(lo+rows, n)
		ps := make([][]int, 0, hi-lo)
		rngs := make([]*rand.Rand, 0, hi-lo)
		for q := lo; q < hi; q++ {
			i, j := q/k, q%k
			ps = append(ps, prompts[i])
			rngs = append(rngs, rand.New(rand.NewPCG(sampleSeed(cfg.Seed, i, j), 0x6b696c6e)))
		}
		for q, c := range sampleRows(m, ps, cfg.Tokens, cfg.Temperature, rngs) {
			out[(lo+q)/k][(lo+q)%k] = c
		}
	}
	return out, nil
}

// Group is one prompt with several completions and their rule scores.
type Group struct {
	Prompt      []int
	Completions [][]int
	Texts       []string // the decoded completions
	Scores      []float64
}

// SampleGroups encodes the prompts, draws k completions of each from m and
// scores them with rule.
func SampleGroups(ctx context.Context, m *gpt.Model, tok tokenizer.Tokenizer, prompts []string, k int, rule Rule, cfg SampleConfig) ([]Group, error) {
	enc := make([][]int, len(prompts))
	for i, p := range prompts {
		enc[i] = tok.Encode(p)
	}
	samples, err := Sample(ctx, m, enc, k, cfg)
	if err != nil {
		return nil, err
	}
	groups := make([]Group, len(prompts))
	for i, comps := range samples {
		g := Group{Prompt: enc[i], Completions: comps, Texts: make([]string, k), Scores: make([]float64, k)}
		for j, c := range comps {
			g.Texts[j] = tok.Decode(c)
			g.Scores[j] = rule.Score(g.Texts[j])
		}
		groups[i] = g
	}
	return groups, nil
}

// rankedPairs returns the index pairs (chosen, rejected) of one group: the
// best completion against the worst, the second best against the second
// worst, and so on while the chosen scores strictly higher; each completion
// is used once, and ties give no pair. At most limit pairs (all when <= 0).
func (g Group) rankedPairs(limit int) [][2]int {
	order := orderBy(0, len(g.Scores), func(i int) float64 { return g.Scores[i] })
	var out [][2]int
	for lo, hi := 0, len(order)-1; lo < hi; lo, hi = lo+1, hi-1 {
		if !(g.Scores[order[lo]] > g.Scores[order[hi]]) || (limit > 0 && len(out) == limit) {
			break
		}
		out = append(out, [2]int{order[lo], order[hi]})
	}
	return out
}

// PairsFromGroups turns groups into preference pairs from the same prompt:
// chosen scores strictly better than rejected (see Group rankings: best
// against worst, then inwards), at most perGroup pairs per group (all
// when <= 0). Groups whose completions all tie give none.
func PairsFromGroups(groups []Group, perGroup int) []PairTokens {
	var out []PairTokens
	for _, g := range groups {
		for _, p := range g.rankedPairs(perGroup) {
			out = append(out, PairTokens{Prompt: g.Prompt, Chosen: g.Completions[p[0]], Rejected: g.Completions[p[1]],
				ChosenFraction: 1})
		}
	}
	return out
}

// ListsFromGroups turns groups into scored lists for listwise losses, the
// labels being the scores minus the group's lowest (so that they are >= 0,
// as the softmax loss needs). Groups whose completions all tie are left out.
func ListsFromGroups(groups []Group) []ListTokens {
	var out []ListTokens
	for _, g := range groups {
		lo, hi := slices.Min(g.Scores), slices.Max(g.Scores)
		if !(hi > lo) {
			continue
		}
		l := ListTokens{Prompt: g.Prompt, Completions: g.Completions, Scores: make([]float64, len(g.Scores))}
		for i, s := range g.Scores {
			l.Scores[i] = s - lo
		}
		out = append(out, l)
	}
	return out
}
