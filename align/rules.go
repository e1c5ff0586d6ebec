package align

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Rule is a verifiable property of a completion: it ranks the model's own
// samples into preference pairs (BuildPairs) and measures how often fresh
// samples have the property (MeasureRule), with no reward model.
type Rule interface {
	// Name is the rule as ParseRule reads it, e.g. "contains:light".
	Name() string
	// Score rates a completion, higher is better.
	Score(completion string) float64
	// Satisfied reports whether the completion has the property.
	Satisfied(completion string) bool
}

// RuleHelp describes the rules ParseRule accepts, one per line.
const RuleHelp = `contains:WORD  the completion mentions WORD (case-insensitive substring): score 1, else 0
avoid:LETTERS  fewer occurrences of these letters is better (case-insensitive): score −count; satisfied when none occurs
sentence-end   the completion finishes a sentence (contains '.', '!' or '?'): score 1, else 0`

// ParseRule reads a rule: contains:WORD, avoid:LETTERS or sentence-end
// (see RuleHelp).
func ParseRule(s string) (Rule, error) {
	kind, arg, hasArg := strings.Cut(strings.TrimSpace(s), ":")
	switch kind {
	case "contains":
		if arg == "" {
			return nil, fmt.Errorf("align: rule %q: want contains:WORD with a non-empty word", s)
		}
		return containsRule{word: arg, lower: strings.ToLower(arg)}, nil
	case "avoid":
		if arg == "" {
			return nil, fmt.Errorf("align: rule %q: want avoid:LETTERS with at least one letter", s)
		}
		var set []rune
		for _, r := range arg {
			if r == utf8.RuneError {
				return nil, fmt.Errorf("align: rule %q: the letters are not valid UTF-8", s)
			}
			set = append(set, unicode.ToLower(r))
		}
		return avoidRule{letters: arg, set: set}, nil
	case "sentence-end":
		if hasArg {
			return nil, fmt.Errorf("align: rule %q: sentence-end takes no argument", s)
		}
		return sentenceEndRule{}, nil
	}
	return nil, fmt.Errorf("align: unknown rule %q; want one of:\n%s", s, RuleHelp)
}

// containsRule prefers completions that mention a word.
type containsRule struct{ word, lower string }

func (r containsRule) Name() string { return "contains:" + r.word }

func (r containsRule) Score(c string) float64 {
	if r.Satisfied(c) {
		return 1
	}
	return 0
}

func (r containsRule) Satisfied(c string) bool { return strings.Contains(strings.ToLower(c), r.lower) }

// avoidRule prefers completions with fewer of some letters (a lipogram).
type avoidRule struct {
	letters string
	set     []rune // lower case
}

func (r avoidRule) Name() string { return "avoid:" + r.letters }

// count returns the occurrences of the rule's letters in c.
func (r avoidRule) count(c string) int {
	n := 0
	for _, ch := range c {
		ch = unicode.ToLower(ch)
		for _, x := range r.set {
			if ch == x {
				n++
				break
			}
		}
	}
	return n
}

func (r avoidRule) Score(c string) float64 { return -float64(r.count(c)) }

func (r avoidRule) Satisfied(c string) bool { return r.count(c) == 0 }

// sentenceEndRule prefers completions that finish a sentence.
type sentenceEndRule struct{}

func (sentenceEndRule) Name() string { return "sentence-end" }

func (r sentenceEndRule) Score(c string) float64 {
	if r.Satisfied(c) {
		return 1
	}
	return 0
}

func (sentenceEndRule) Satisfied(c string) bool { return strings.ContainsAny(c, ".!?") }
