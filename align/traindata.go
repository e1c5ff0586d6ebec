package align

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"

	"github.com/kiln-ml/kiln/models/tokenizer"
)

// TrainData is a tokenized data set in the shape a loss trains on (its
// Kind): pairs, labelled completions, a forget set with an optional retain
// set, or scored lists.
type TrainData struct {
	Kind     Kind
	Pairs    []PairTokens     // PairedData
	Unpaired []UnpairedTokens // UnpairedData; the forget set of ForgetData
	Retain   []UnpairedTokens // ForgetData: completions to keep (NPO+RT), may be empty
	Lists    []ListTokens     // ListwiseData
}

// Len returns the number of examples a step draws from: pairs, unpaired
// examples, forget items or lists.
func (d *TrainData) Len() int {
	switch d.Kind {
	case PairedData:
		return len(d.Pairs)
	case UnpairedData, ForgetData:
		return len(d.Unpaired)
	case ListwiseData:
		return len(d.Lists)
	}
	return 0
}

// DataFromPairs converts preference pairs to the data of a loss kind:
// pairs as they are; unpaired examples with the chosen completions
// desirable and the rejected undesirable (spec §9); a forget set of the
// rejected completions with the chosen as the retain set; lists of two
// with labels 1 (chosen) and 0.
func DataFromPairs(kind Kind, pairs []PairTokens) *TrainData {
	d := &TrainData{Kind: kind}
	switch kind {
	case PairedData:
		d.Pairs = pairs
	case UnpairedData:
		for _, p := range pairs {
			d.Unpaired = append(d.Unpaired,
				UnpairedTokens{Prompt: p.Prompt, Completion: p.Chosen, Desirable: true, Line: p.Line},
				UnpairedTokens{Prompt: p.Prompt, Completion: p.Rejected, Line: p.Line})
		}
	case ForgetData:
		for _, p := range pairs {
			d.Unpaired = append(d.Unpaired, UnpairedTokens{Prompt: p.Prompt, Completion: p.Rejected, Line: p.Line})
			d.Retain = append(d.Retain, UnpairedTokens{Prompt: p.Prompt, Completion: p.Chosen, Desirable: true, Line: p.Line})
		}
	case ListwiseData:
		for _, p := range pairs {
			d.Lists = append(d.Lists, ListTokens{Prompt: p.Prompt, Completions: [][]int{p.Chosen, p.Rejected}, Scores: []float64{1, 0}, Line: p.Line})
		}
	}
	return d
}

// DataFromGroups converts scored groups of the model's own completions to
// the data of a loss kind: lists for listwise losses (ListsFromGroups),
// otherwise pairs (PairsFromGroups, at most perGroup per group) converted
// by DataFromPairs.
func DataFromGroups(kind Kind, groups []Group, perGroup int) *TrainData {
	if kind == ListwiseData {
		return &TrainData{Kind: kind, Lists: ListsFromGroups(groups)}
	}
	return DataFromPairs(kind, PairsFromGroups(groups, perGroup))
}

// Format is the layout of a JSONL preference file.
type Format int

const (
	// PairsFormat is prompt/chosen/rejected (or chosen/rejected).
	PairsFormat Format = iota
	// UnpairedFormat is prompt/completion/label.
	UnpairedFormat
	// CompletionsFormat is prompt/completion without labels.
	CompletionsFormat
	// ListsFormat is prompt/completions/scores.
	ListsFormat
)

// String names the format.
func (f Format) String() string {
	switch f {
	case PairsFormat:
		return "pairs (prompt, chosen, rejected)"
	case UnpairedFormat:
		return "unpaired (prompt, completion, label)"
	case CompletionsFormat:
		return "completions (prompt, completion)"
	case ListsFormat:
		return "lists (prompt, completions, scores)"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// DetectFormat tells the format of a JSONL file from the fields of its
// first non-blank line. A line that is not a JSON object reads as pairs, so
// that ReadPairs reports what is wrong with it.
func DetectFormat(data []byte) Format {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), len(data)+1)
	for sc.Scan() {
		line := bytes.TrimSpace(bytes.TrimPrefix(sc.Bytes(), []byte("\ufeff")))
		if len(line) == 0 {
			continue
		}
		var fields map[string]json.RawMessage
		if json.Unmarshal(line, &fields) != nil {
			return PairsFormat
		}
		_, chosen := fields["chosen"]
		_, comps := fields["completions"]
		_, comp := fields["completion"]
		_, label := fields["label"]
		switch {
		case chosen:
			return PairsFormat
		case comps:
			return ListsFormat
		case comp && label:
			return UnpairedFormat
		case comp:
			return CompletionsFormat
		}
		return PairsFormat
	}
	return PairsFormat
}

// ReadData reads a JSONL preference file in any of the formats (see
// DetectFormat), tokenizes it and converts it to the data of a loss kind:
// pairs feed every kind (see DataFromPairs); labelled completions feed
// unpaired losses and, undesirable ones forgotten and desirable ones
// retained, forget losses; unlabelled completions feed forget losses; lists
// feed listwise losses and, best against worst, paired ones. The Report
// says which examples were dropped (a prompt that fills the context) or
// truncated. Malformed lines, missing or empty fields are errors naming
// the line.
func ReadData(path string, kind Kind, tok tokenizer.Tokenizer, cfg TokenizeConfig) (*TrainData, Report, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, Report{}, fmt.Errorf("align: %w", err)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, Report{}, fmt.Errorf("align: %s is empty; want one JSON object per line", path)
	}
	format := DetectFormat(raw)
	incompatible := func() (*TrainData, Report, error) {
		return nil, Report{}, fmt.Errorf("align: %s holds %s, which %s losses cannot train on; want %s", path, format, kind, wantFormats(kind))
	}
	r := bytes.NewReader(raw)
	switch format {
	case PairsFormat:
		pairs, err := ReadPairs(r, path)
		if err != nil {
			return nil, Report{}, err
		}
		toks, rep, err := TokenizePairs(pairs, tok, cfg)
		if err != nil {
			return nil, rep, err
		}
		return DataFromPairs(kind, toks), rep, nil
	case UnpairedFormat, CompletionsFormat:
		if kind != UnpairedData && kind != ForgetData {
			return incompatible()
		}
		var items []Unpaired
		if format == UnpairedFormat {
			items, err = ReadUnpaired(r, path)
		} else {
			if kind == UnpairedData {
				return incompatible()
			}
			items, err = ReadCompletions(r, path)
		}
		if err != nil {
			return nil, Report{}, err
		}
		toks, rep, err := TokenizeUnpaired(items, tok, cfg)
		if err != nil {
			return nil, rep, err
		}
		d := &TrainData{Kind: kind}
		if kind == UnpairedData || format == CompletionsFormat {
			d.Unpaired = toks
			return d, rep, nil
		}
		for _, u := range toks {
			if u.Desirable {
				d.Retain = append(d.Retain, u)
			} else {
				d.Unpaired = append(d.Unpaired, u)
			}
		}
		if len(d.Unpaired) == 0 {
			return nil, rep, fmt.Errorf("align: %s has no undesirable (label false) completions to forget", path)
		}
		return d, rep, nil
	case ListsFormat:
		if kind != ListwiseData && kind != PairedData {
			return incompatible()
		}
		lists, err := ReadLists(r, path)
		if err != nil {
			return nil, Report{}, err
		}
		toks, rep, err := TokenizeLists(lists, tok, cfg)
		if err != nil {
			return nil, rep, err
		}
		if kind == ListwiseData {
			return &TrainData{Kind: kind, Lists: toks}, rep, nil
		}
		d := &TrainData{Kind: kind}
		for _, l := range toks {
			best, worst := 0, 0
			for i, s := range l.Scores {
				if s > l.Scores[best] {
					best = i
				}
				if s < l.Scores[worst] {
					worst = i
				}
			}
			if l.Scores[best] > l.Scores[worst] {
				d.Pairs = append(d.Pairs, PairTokens{Prompt: l.Prompt, Chosen: l.Completions[best], Rejected: l.Completions[worst],
					ChosenFraction: DefaultChosenFraction, Line: l.Line})
			}
		}
		if len(d.Pairs) == 0 {
			return nil, rep, fmt.Errorf("align: %s: every list has equal scores, so no pair can be formed", path)
		}
		return d, rep, nil
	}
	return incompatible()
}

func wantFormats(kind Kind) string {
	switch kind {
	case PairedData:
		return "pairs {prompt, chosen, rejected} or lists {prompt, completions, scores}"
	case UnpairedData:
		return "pairs or labelled completions {prompt, completion, label}"
	case ForgetData:
		return "pairs, labelled completions or completions {prompt, completion}"
	case ListwiseData:
		return "pairs or lists {prompt, completions, scores}"
	}
	return "a known format"
}

// Split returns the data with a held-out part of about frac of the
// examples (at least one when frac > 0 and there are two or more) taken at
// seeded random positions; the retain set is split in the same proportion.
func (d *TrainData) Split(frac float64, seed uint64) (train, held *TrainData) {
	rng := rand.New(rand.NewPCG(seed, 0x73706c74)) // "splt"
	train, held = &TrainData{Kind: d.Kind}, &TrainData{Kind: d.Kind}
	train.Pairs, held.Pairs = splitSlice(d.Pairs, frac, rng)
	train.Unpaired, held.Unpaired = splitSlice(d.Unpaired, frac, rng)
	train.Retain, held.Retain = splitSlice(d.Retain, frac, rng)
	train.Lists, held.Lists = splitSlice(d.Lists, frac, rng)
	return train, held
}

func splitSlice[T any](s []T, frac float64, rng *rand.Rand) (a, b []T) {
	if len(s) == 0 {
		return nil, nil
	}
	n := int(frac * float64(len(s)))
	if frac > 0 && n == 0 && len(s) > 1 {
		n = 1
	}
	perm := rng.Perm(len(s))
	held := perm[:n]
	slices.Sort(held)
	heldSet := make(map[int]bool, n)
	for _, i := range held {
		heldSet[i] = true
		b = append(b, s[i])
	}
	for i, x := range s {
		if !heldSet[i] {
			a = append(a, x)
		}
	}
	return a, b
}

// check reports data a loss cannot train on, before any step runs.
func (d *TrainData) check(what, loss string, needRetain bool) error {
	if d.Len() == 0 {
		return fmt.Errorf("align: %s data has no %s examples", what, d.Kind)
	}
	if needRetain && len(d.Retain) == 0 {
		return fmt.Errorf("align: loss %s needs a retain set: give pairs (chosen completions are retained) or labelled completions (desirable ones are retained)", loss)
	}
	for i, l := range d.Lists {
		if len(l.Completions) < 2 || len(l.Scores) != len(l.Completions) {
			return fmt.Errorf("align: %s list %d has %d completions and %d scores; want at least 2, one score each", what, i, len(l.Completions), len(l.Scores))
		}
		if loss == "listwise_softmax" {
			for _, s := range l.Scores {
				if s < 0 {
					return fmt.Errorf("align: %s list %d (line %d) has score %v; listwise_softmax needs scores >= 0", what, i, l.Line, s)
				}
			}
		}
	}
	return nil
}
