package align

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRules(t *testing.T) {
	cases := []struct {
		rule, text string
		score      float64
		ok         bool
	}{
		{"contains:light", "the Light of the Sun", 1, true},
		{"contains:light", "the Rays of the Sun", 0, false},
		{"contains:light", "lig ht", 0, false},
		{"contains:Light", "moonlight", 1, true},
		{"avoid:e", "the Sun's rays", -1, false},
		{"avoid:e", "Sun rays go by", 0, true},
		{"avoid:E", "EeEe", -4, false},
		{"avoid:ae", "a cat ate", -4, false},
		{"avoid:é", "café CAFÉ", -2, false},
		{"sentence-end", "and so on. Then", 1, true},
		{"sentence-end", "and so on, then", 0, false},
	}
	for _, c := range cases {
		r, err := ParseRule(c.rule)
		require.NoError(t, err, c.rule)
		assert.Equal(t, c.rule, r.Name())
		assert.Equal(t, c.score, r.Score(c.text), "%s on %q", c.rule, c.text)
		assert.Equal(t, c.ok, r.Satisfied(c.text), "%s on %q", c.rule, c.text)
	}
}

func TestParseRuleErrors(t *testing.T) {
	for s, msg := range map[string]string{
		"contains":        "want contains:WORD",
		"contains:":       "want contains:WORD",
		"avoid:":          "want avoid:LETTERS",
		"avoid:\xff":      "not valid UTF-8",
		"sentence-end:x":  "takes no argument",
		"longer-than:3":   `unknown rule "longer-than:3"`,
		"":                "unknown rule",
		"CONTAINS:light":  "unknown rule",
		"contains-light":  "unknown rule",
		"avoid-e":         "unknown rule",
		"sentence-end:":   "takes no argument",
		"sentence_end":    "unknown rule",
		"contains :light": "unknown rule",
	} {
		_, err := ParseRule(s)
		require.Error(t, err, s)
		assert.Contains(t, err.Error(), msg, s)
	}
}
