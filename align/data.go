package align

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"unicode/utf8"
)

// Pair is one preference example: a prompt and two completions of it, the
// chosen one preferred over the rejected one.
type Pair struct {
	Prompt, Chosen, Rejected string
	// ChosenFraction is the share of annotators who preferred Chosen, in
	// (0, 1]; ReadPairs sets DefaultChosenFraction when the line gives none,
	// and 0 means the same. Only the ranking metrics use it.
	ChosenFraction float64
	Line           int // 1-based line in the file it was read from
}

// DefaultChosenFraction is the annotator agreement assumed for pairs without
// a chosen_fraction, as in the official ranking-accuracy code.
const DefaultChosenFraction = 0.75

// Unpaired is one completion of a prompt with a binary label (KTO, BCO), or
// an item of a forget or retain set (NPO), where the label is not used.
type Unpaired struct {
	Prompt, Completion string
	Desirable          bool // the label field: true for thumbs-up
	Line               int
}

// List is a prompt with several completions and a real-valued score for
// each, higher is better (LiPO, ListMLE).
type List struct {
	Prompt      string
	Completions []string
	Scores      []float64
	Line        int
}

// DataError is a problem with one line of a JSONL file.
type DataError struct {
	File  string // name given to the reader
	Line  int    // 1-based
	Field string // JSON field, "" when the line itself is wrong
	Msg   string
}

// Error formats the error as file:line: field "x": message.
func (e *DataError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d: field %q: %s", e.File, e.Line, e.Field, e.Msg)
}

// ReadPairsFile reads a paired preference file; see ReadPairs.
func ReadPairsFile(path string) ([]Pair, error) {
	return readFile(path, ReadPairs)
}

// ReadUnpairedFile reads an unpaired preference file; see ReadUnpaired.
func ReadUnpairedFile(path string) ([]Unpaired, error) {
	return readFile(path, ReadUnpaired)
}

// ReadCompletionsFile reads a prompt-completion file; see ReadCompletions.
func ReadCompletionsFile(path string) ([]Unpaired, error) {
	return readFile(path, ReadCompletions)
}

// ReadListsFile reads a listwise preference file; see ReadLists.
func ReadListsFile(path string) ([]List, error) {
	return readFile(path, ReadLists)
}

func readFile[T any](path string, read func(io.Reader, string) ([]T, error)) ([]T, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return read(f, path)
}

// ReadPairs reads TRL's standard preference format, one JSON object per
// line: {"prompt": "...", "chosen": "...", "rejected": "..."}, all non-empty
// strings. Without "prompt" the prompt is implicit: the longest common
// prefix of chosen and rejected (see SplitImplicitPrompt). An optional
// "chosen_fraction" in (0, 1] gives the annotator agreement. Other fields
// are ignored; blank lines are skipped. name labels errors (a file name).
func ReadPairs(r io.Reader, name string) ([]Pair, error) {
	var out []Pair
	err := eachLine(r, name, func(l *line) error {
		chosen, err := l.str("chosen")
		if err != nil {
			return err
		}
		rejected, err := l.str("rejected")
		if err != nil {
			return err
		}
		p := Pair{Chosen: chosen, Rejected: rejected, ChosenFraction: DefaultChosenFraction, Line: l.n}
		if l.has("prompt") {
			if p.Prompt, err = l.str("prompt"); err != nil {
				return err
			}
		} else {
			p.Prompt, p.Chosen, p.Rejected = SplitImplicitPrompt(chosen, rejected)
			if p.Prompt == "" {
				return l.fail("prompt", "absent, and chosen and rejected share no prefix to take as the prompt")
			}
		}
		if l.has("chosen_fraction") {
			f, err := l.num("chosen_fraction")
			if err != nil {
				return err
			}
			if !(f > 0 && f <= 1) {
				return l.fail("chosen_fraction", fmt.Sprintf("%v is outside (0, 1]", f))
			}
			p.ChosenFraction = f
		}
		out = append(out, p)
		return nil
	})
	return out, err
}

// ReadUnpaired reads TRL's unpaired preference format (KTO, BCO):
// {"prompt": "...", "completion": "...", "label": true|false}.
func ReadUnpaired(r io.Reader, name string) ([]Unpaired, error) {
	return readUnpaired(r, name, true)
}

// ReadCompletions reads the prompt-completion format (NPO forget and retain
// sets, SFT): {"prompt": "...", "completion": "..."}; a "label" is ignored.
func ReadCompletions(r io.Reader, name string) ([]Unpaired, error) {
	return readUnpaired(r, name, false)
}

func readUnpaired(r io.Reader, name string, label bool) ([]Unpaired, error) {
	var out []Unpaired
	err := eachLine(r, name, func(l *line) error {
		prompt, err := l.str("prompt")
		if err != nil {
			return err
		}
		completion, err := l.str("completion")
		if err != nil {
			return err
		}
		u := Unpaired{Prompt: prompt, Completion: completion, Line: l.n}
		if label {
			if u.Desirable, err = l.boolean("label"); err != nil {
				return err
			}
		}
		out = append(out, u)
		return nil
	})
	return out, err
}

// ReadLists reads the listwise format: {"prompt": "...", "completions":
// ["...", ...], "scores": [number, ...]} with at least two non-empty
// completions and one finite score per completion.
func ReadLists(r io.Reader, name string) ([]List, error) {
	var out []List
	err := eachLine(r, name, func(l *line) error {
		prompt, err := l.str("prompt")
		if err != nil {
			return err
		}
		comps, err := l.strs("completions")
		if err != nil {
			return err
		}
		scores, err := l.nums("scores")
		if err != nil {
			return err
		}
		if len(scores) != len(comps) {
			return l.fail("scores", fmt.Sprintf("%d scores for %d completions; want one score per completion", len(scores), len(comps)))
		}
		out = append(out, List{Prompt: prompt, Completions: comps, Scores: scores, Line: l.n})
		return nil
	})
	return out, err
}

// SplitImplicitPrompt splits two texts that share a prompt, as TRL's
// extract_prompt does: the prompt is their longest common prefix (in
// characters), and a space just before the split point moves into the
// completions. When one text is a prefix of the other, the last common
// character moves into the completions too, so that neither is empty
// unless the texts are equal.
func SplitImplicitPrompt(chosen, rejected string) (prompt, c, r string) {
	i := 0 // byte offset of the split point
	last := 0
	for i < len(chosen) && i < len(rejected) {
		_, nc := utf8.DecodeRuneInString(chosen[i:])
		_, nr := utf8.DecodeRuneInString(rejected[i:])
		if chosen[i:i+nc] != rejected[i:i+nr] {
			break
		}
		last = i
		i += nc
	}
	if i == len(chosen) || i == len(rejected) {
		// No difference within the shorter text: TRL's loop ends on the
		// last common character, which stays in the completions.
		i = last
	} else if i > 0 && chosen[i-1] == ' ' {
		i--
	}
	return chosen[:i], chosen[i:], rejected[i:]
}

// line is one parsed JSON object with its position, for error messages.
type line struct {
	file   string
	n      int
	fields map[string]json.RawMessage
}

func (l *line) fail(field, msg string) error {
	return &DataError{File: l.file, Line: l.n, Field: field, Msg: msg}
}

func (l *line) has(field string) bool {
	v, ok := l.fields[field]
	return ok && !bytes.Equal(bytes.TrimSpace(v), []byte("null"))
}

func (l *line) raw(field string) (json.RawMessage, error) {
	if !l.has(field) {
		return nil, l.fail(field, "missing")
	}
	return l.fields[field], nil
}

// kind names the JSON type of a raw value for error messages.
func kind(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		var msgs []map[string]json.RawMessage
		if json.Unmarshal(v, &msgs) == nil && len(msgs) > 0 {
			if _, ok := msgs[0]["role"]; ok {
				return "a list of messages (the conversational format needs a chat template, which align does not apply; give plain strings)"
			}
		}
		return "a list"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

func (l *line) str(field string) (string, error) {
	v, err := l.raw(field)
	if err != nil {
		return "", err
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		return "", l.fail(field, "want a string, got "+kind(v))
	}
	if s == "" {
		return "", l.fail(field, "empty string; want non-empty text")
	}
	return s, nil
}

func (l *line) boolean(field string) (bool, error) {
	v, err := l.raw(field)
	if err != nil {
		return false, err
	}
	var b bool
	if json.Unmarshal(v, &b) != nil {
		return false, l.fail(field, "want true (desirable) or false (undesirable), got "+kind(v))
	}
	return b, nil
}

func (l *line) num(field string) (float64, error) {
	v, err := l.raw(field)
	if err != nil {
		return 0, err
	}
	var f float64
	if json.Unmarshal(v, &f) != nil {
		return 0, l.fail(field, "want a number, got "+kind(v))
	}
	return f, nil
}

func (l *line) strs(field string) ([]string, error) {
	v, err := l.raw(field)
	if err != nil {
		return nil, err
	}
	var items []json.RawMessage
	if json.Unmarshal(v, &items) != nil {
		return nil, l.fail(field, "want a list of strings, got "+kind(v))
	}
	if len(items) < 2 {
		return nil, l.fail(field, fmt.Sprintf("%d completions; want at least 2 to rank", len(items)))
	}
	out := make([]string, len(items))
	for i, it := range items {
		if json.Unmarshal(it, &out[i]) != nil {
			return nil, l.fail(field, fmt.Sprintf("item %d: want a string, got %s", i, kind(it)))
		}
		if out[i] == "" {
			return nil, l.fail(field, fmt.Sprintf("item %d: empty string; want non-empty text", i))
		}
	}
	return out, nil
}

func (l *line) nums(field string) ([]float64, error) {
	v, err := l.raw(field)
	if err != nil {
		return nil, err
	}
	var items []json.RawMessage
	if json.Unmarshal(v, &items) != nil {
		return nil, l.fail(field, "want a list of numbers, got "+kind(v))
	}
	out := make([]float64, len(items))
	for i, it := range items {
		if json.Unmarshal(it, &out[i]) != nil {
			return nil, l.fail(field, fmt.Sprintf("item %d: want a number, got %s", i, kind(it)))
		}
		if math.IsInf(out[i], 0) || math.IsNaN(out[i]) {
			return nil, l.fail(field, fmt.Sprintf("item %d: %v is not finite", i, out[i]))
		}
	}
	return out, nil
}

// eachLine parses every non-blank line of r as a JSON object and passes it
// to fn; the first error stops the scan.
func eachLine(r io.Reader, name string, fn func(*line) error) error {
	br := bufio.NewReader(r)
	n := 0
	for {
		text, err := br.ReadBytes('\n')
		if len(text) > 0 {
			n++
			if n == 1 {
				text = bytes.TrimPrefix(text, []byte("\ufeff")) // a UTF-8 byte-order mark
			}
			if t := bytes.TrimSpace(text); len(t) > 0 {
				l := &line{file: name, n: n}
				if jerr := json.Unmarshal(t, &l.fields); jerr != nil {
					msg := "malformed JSON: " + jerr.Error()
					var ute *json.UnmarshalTypeError
					if errors.As(jerr, &ute) {
						msg = "want a JSON object, got a JSON " + ute.Value
					}
					return &DataError{File: name, Line: n, Msg: msg}
				}
				if l.fields == nil {
					return &DataError{File: name, Line: n, Msg: "want a JSON object, got null"}
				}
				if ferr := fn(l); ferr != nil {
					return ferr
				}
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s:%d: %w", name, n+1, err)
		}
	}
}
