package data

import (
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/kiln-ml/kiln/models/tokenizer"
)

// defaultCorpusName is the default corpus's path relative to GOROOT.
const defaultCorpusName = "src/testdata/Isaac.Newton-Opticks.txt"

// goroots lists the ways to find GOROOT, cheapest first. A binary run
// outside the source tree cannot rely on runtime.GOROOT alone: it is empty
// when the binary was built with -trimpath, and it names the build machine's
// GOROOT when the binary was copied elsewhere. The go command on PATH, when
// there is one, knows the local installation.
var goroots = []func() string{
	func() string { return os.Getenv("GOROOT") },
	//lint:ignore SA1019 one of several fallbacks; each candidate is checked on disk.
	runtime.GOROOT,
	func() string {
		out, err := exec.Command("go", "env", "GOROOT").Output()
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(out))
	},
}

// DefaultCorpusPath returns the path of the default corpus,
// GOROOT/src/testdata/Isaac.Newton-Opticks.txt, looking for GOROOT in the
// environment, in the running binary and by asking the go command.
func DefaultCorpusPath() (string, error) {
	return findCorpus(goroots)
}

func findCorpus(roots []func() string) (string, error) {
	var tried []string
	for _, root := range roots {
		r := root()
		if r == "" {
			continue
		}
		p := filepath.Join(r, filepath.FromSlash(defaultCorpusName))
		if slices.Contains(tried, p) {
			continue
		}
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
		tried = append(tried, p)
	}
	where := "GOROOT is unknown and no go command was found"
	if len(tried) > 0 {
		where = "looked for " + strings.Join(tried, ", ")
	}
	return "", fmt.Errorf("data: default corpus not found (%s); pass --data FILE to train on a text file", where)
}

// ReadCorpus returns the contents of the text file at path, or of the
// default corpus when path is "".
func ReadCorpus(path string) ([]byte, error) {
	if path == "" {
		p, err := DefaultCorpusPath()
		if err != nil {
			return nil, err
		}
		path = p
	}
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("data: reading corpus: %w", err)
	}
	return text, nil
}

// Split divides tokens into a training part and a validation part made of
// the last valFraction of the tokens (rounded down), without copying. Both
// parts must be non-empty.
func Split(tokens []int, valFraction float64) (train, val []int, err error) {
	if !(valFraction > 0 && valFraction < 1) {
		return nil, nil, fmt.Errorf("data: validation fraction %v is outside (0, 1)", valFraction)
	}
	nVal := int(math.Floor(float64(len(tokens)) * valFraction))
	if nVal == 0 || nVal == len(tokens) {
		return nil, nil, fmt.Errorf("data: a validation fraction of %v of %d tokens leaves an empty split; need more data or a different fraction", valFraction, len(tokens))
	}
	cut := len(tokens) - nVal
	return tokens[:cut:cut], tokens[cut:], nil
}

// Dataset is a tokenized corpus split for training and validation.
type Dataset struct {
	Train, Val []int
	// VocabSize is the tokenizer's vocabulary size: every id is below it.
	VocabSize int
	// Path is the corpus file the tokens came from.
	Path string
}

// Load reads the corpus at path (the default corpus when path is ""),
// encodes it with tok and splits off the last valFraction as validation data.
func Load(path string, tok tokenizer.Tokenizer, valFraction float64) (*Dataset, error) {
	if tok == nil {
		return nil, errors.New("data: Load needs a tokenizer")
	}
	if path == "" {
		p, err := DefaultCorpusPath()
		if err != nil {
			return nil, err
		}
		path = p
	}
	text, err := ReadCorpus(path)
	if err != nil {
		return nil, err
	}
	if len(text) == 0 {
		return nil, fmt.Errorf("data: corpus %s is empty", path)
	}
	tokens := tok.Encode(string(text))
	train, val, err := Split(tokens, valFraction)
	if err != nil {
		return nil, fmt.Errorf("%w (corpus %s)", err, path)
	}
	return &Dataset{Train: train, Val: val, VocabSize: tok.VocabSize(), Path: path}, nil
}
