package align

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/kiln-ml/kiln/models/tokenizer"
)

// TokenizeConfig says how text examples become token ids.
type TokenizeConfig struct {
	// Context is the model's context length (gpt.Config.Context), required.
	// A row prompt+completion keeps its first Context+1 tokens (TRL's
	// keep_start truncation): the model reads all but the last token and
	// predicts all but the first, so it sees at most Context positions.
	Context int
	// EOS is appended to every completion that does not already end with
	// it, so that the model learns where completions stop. Byte-level
	// tokenizers have no end-of-sequence token, so nil (the default)
	// appends nothing; pass for instance tok.Encode("\n") when completions
	// are lines.
	EOS []int
	// Vocab, when positive, is the model's vocabulary size: tokenizing
	// fails if the tokenizer or EOS can produce an id the model lacks.
	Vocab int
}

// PairTokens is a tokenized Pair. Prompt+Chosen and Prompt+Rejected each
// fit in Context+1 tokens and each completion has at least one token.
type PairTokens struct {
	Prompt, Chosen, Rejected []int
	ChosenFraction           float64
	Line                     int
	// RefChosen and RefRejected are the reference model's sequence
	// log-probabilities, valid when HasRef (see Reference.PrecomputePairs).
	RefChosen, RefRejected float32
	HasRef                 bool
}

// UnpairedTokens is a tokenized Unpaired example.
type UnpairedTokens struct {
	Prompt, Completion []int
	Desirable          bool
	Line               int
	Ref                float32 // reference log-probability, valid when HasRef
	HasRef             bool
}

// ListTokens is a tokenized List.
type ListTokens struct {
	Prompt      []int
	Completions [][]int
	Scores      []float64
	Line        int
	Ref         []float32 // reference log-probabilities, one per completion, or nil
}

// Report counts what tokenizing did to a data set.
type Report struct {
	Examples int // examples given
	// Dropped lists the lines of examples left out because their prompt
	// fills the context, leaving no completion token to score (TRL drops
	// these too).
	Dropped []int
	// Truncated counts kept examples with at least one completion cut to
	// fit the context.
	Truncated int
}

// Kept returns the number of examples that remain.
func (r Report) Kept() int { return r.Examples - len(r.Dropped) }

// String summarises the report, for a warning.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d examples, %d kept, %d truncated, %d dropped", r.Examples, r.Kept(), r.Truncated, len(r.Dropped))
	if len(r.Dropped) > 0 {
		const show = 10
		lines := make([]string, 0, show)
		for _, l := range r.Dropped[:min(len(r.Dropped), show)] {
			lines = append(lines, fmt.Sprint(l))
		}
		more := ""
		if len(r.Dropped) > show {
			more = ", ..."
		}
		fmt.Fprintf(&b, " (prompt leaves no room for a completion: lines %s%s)", strings.Join(lines, ", "), more)
	}
	return b.String()
}

// encoder applies a TokenizeConfig.
type encoder struct {
	tok tokenizer.Tokenizer
	cfg TokenizeConfig
}

func newEncoder(tok tokenizer.Tokenizer, cfg TokenizeConfig) (*encoder, error) {
	if tok == nil {
		return nil, errors.New("align: tokenize: no tokenizer")
	}
	if cfg.Context <= 0 {
		return nil, fmt.Errorf("align: tokenize: context %d must be positive (the model's context length)", cfg.Context)
	}
	if cfg.Vocab > 0 && tok.VocabSize() > cfg.Vocab {
		return nil, fmt.Errorf("align: tokenize: tokenizer %s has %d tokens, the model only %d", tok.Name(), tok.VocabSize(), cfg.Vocab)
	}
	for _, id := range cfg.EOS {
		if id < 0 || id >= tok.VocabSize() || (cfg.Vocab > 0 && id >= cfg.Vocab) {
			return nil, fmt.Errorf("align: tokenize: EOS id %d is outside the vocabulary [0, %d)", id, tok.VocabSize())
		}
	}
	return &encoder{tok: tok, cfg: cfg}, nil
}

func (e *encoder) prompt(s string) []int { return e.tok.Encode(s) }

// completion encodes s with EOS appended unless it ends with it already.
func (e *encoder) completion(s string) []int {
	ids := e.tok.Encode(s)
	if len(e.cfg.EOS) > 0 && !hasSuffix(ids, e.cfg.EOS) {
		ids = append(ids, e.cfg.EOS...)
	}
	return ids
}

func hasSuffix(ids, suf []int) bool {
	return len(ids) >= len(suf) && slices.Equal(ids[len(ids)-len(suf):], suf)
}

// fit cuts completion c so that prompt+c keeps Context+1 tokens, and
// reports whether it was cut and whether any completion token is scored (a
// token is scored when a token precedes it).
func (e *encoder) fit(prompt, c []int) (kept []int, cut, ok bool) {
	room := e.cfg.Context + 1 - len(prompt)
	if room <= 0 {
		return nil, true, false
	}
	if len(c) > room {
		c, cut = c[:room], true
	}
	return c, cut, scored(len(prompt), len(c)) > 0
}

// scored returns how many completion tokens of a row prompt+completion
// are predicted: all of them, except the first when the prompt is empty.
func scored(prompt, completion int) int {
	if prompt == 0 && completion > 0 {
		return completion - 1
	}
	return completion
}

func noneKept(what string, r Report, cfg TokenizeConfig) error {
	return fmt.Errorf("align: tokenize: all %d %s were dropped: every prompt fills the context of %d tokens, leaving no room for a completion", r.Examples, what, cfg.Context)
}

// TokenizePairs tokenizes preference pairs: prompt and completions are
// encoded separately and concatenated (as TRL does for plain text), EOS is
// appended to completions, and completions are cut so that each row fits
// the context. Pairs whose prompt leaves no room for a completion token are
// dropped and listed in the Report; an error is returned only for a bad
// configuration or when nothing is left.
func TokenizePairs(pairs []Pair, tok tokenizer.Tokenizer, cfg TokenizeConfig) ([]PairTokens, Report, error) {
	e, err := newEncoder(tok, cfg)
	rep := Report{Examples: len(pairs)}
	if err != nil {
		return nil, rep, err
	}
	out := make([]PairTokens, 0, len(pairs))
	for _, p := range pairs {
		pr := e.prompt(p.Prompt)
		c, cutC, okC := e.fit(pr, e.completion(p.Chosen))
		r, cutR, okR := e.fit(pr, e.completion(p.Rejected))
		if !okC || !okR {
			rep.Dropped = append(rep.Dropped, p.Line)
			continue
		}
		if cutC || cutR {
			rep.Truncated++
		}
		out = append(out, PairTokens{Prompt: pr, Chosen: c, Rejected: r, ChosenFraction: p.ChosenFraction, Line: p.Line})
	}
	if len(out) == 0 && len(pairs) > 0 {
		return nil, rep, noneKept("pairs", rep, cfg)
	}
	return out, rep, nil
}

// TokenizeUnpaired tokenizes unpaired examples with the rules of
// TokenizePairs.
func TokenizeUnpaired(items []Unpaired, tok tokenizer.Tokenizer, cfg TokenizeConfig) ([]UnpairedTokens, Report, error) {
	e, err := newEncoder(tok, cfg)
	rep := Report{Examples: len(items)}
	if err != nil {
		return nil, rep, err
	}
	out := make([]UnpairedTokens, 0, len(items))
	for _, u := range items {
		pr := e.prompt(u.Prompt)
		c, cut, ok := e.fit(pr, e.completion(u.Completion))
		if !ok {
			rep.Dropped = append(rep.Dropped, u.Line)
			continue
		}
		if cut {
			rep.Truncated++
		}
		out = append(out, UnpairedTokens{Prompt: pr, Completion: c, Desirable: u.Desirable, Line: u.Line})
	}
	if len(out) == 0 && len(items) > 0 {
		return nil, rep, noneKept("examples", rep, cfg)
	}
	return out, rep, nil
}

// TokenizeLists tokenizes listwise examples with the rules of
// TokenizePairs; a list is dropped when any of its completions would have
// no scored token.
func TokenizeLists(lists []List, tok tokenizer.Tokenizer, cfg TokenizeConfig) ([]ListTokens, Report, error) {
	e, err := newEncoder(tok, cfg)
	rep := Report{Examples: len(lists)}
	if err != nil {
		return nil, rep, err
	}
	out := make([]ListTokens, 0, len(lists))
	for _, l := range lists {
		pr := e.prompt(l.Prompt)
		comps := make([][]int, len(l.Completions))
		anyCut, ok := false, true
		for i, s := range l.Completions {
			c, cut, fits := e.fit(pr, e.completion(s))
			comps[i], anyCut, ok = c, anyCut || cut, ok && fits
		}
		if !ok {
			rep.Dropped = append(rep.Dropped, l.Line)
			continue
		}
		if anyCut {
			rep.Truncated++
		}
		out = append(out, ListTokens{Prompt: pr, Completions: comps, Scores: slices.Clone(l.Scores), Line: l.Line})
	}
	if len(out) == 0 && len(lists) > 0 {
		return nil, rep, noneKept("lists", rep, cfg)
	}
	return out, rep, nil
}
