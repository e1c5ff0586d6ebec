package bench

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Key returns the key of a run with settings s: its readable spec and a
// hash of every setting, so that a change in any of them (the task's sizes,
// the budget, the optimizer's settings, the schedule, the protocol version)
// gives a new key and the stored result is not reused.
func Key(s Settings) (string, error) {
	c, err := canonicalJSON(s)
	if err != nil {
		return "", fmt.Errorf("bench: key of %v: %w", s.Spec, err)
	}
	sum := sha256.Sum256(c)
	lr := "auto"
	if s.Spec.LR > 0 {
		lr = strconv.FormatFloat(s.Spec.LR, 'g', -1, 64)
	}
	return fmt.Sprintf("%s_%s_%s_lr%s_seed%d_%s", s.Spec.Task, s.Spec.Optimizer, s.Spec.Schedule, lr, s.Spec.Seed,
		hex.EncodeToString(sum[:6])), nil
}

// canonicalJSON encodes v with every object's keys sorted (maps and structs
// alike) and numbers as written, so that settings read back from a file hash
// as they did when written.
func canonicalJSON(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var generic any
	if err := dec.Decode(&generic); err != nil {
		return nil, err
	}
	return json.Marshal(generic) // maps encode with sorted keys
}

// Store keeps one JSON file per finished run in a directory, written
// atomically (a temporary file renamed into place), so that an interrupted
// suite keeps every run that finished and never leaves a torn file.
type Store struct {
	dir string
}

// OpenStore returns the store in dir, creating the directory.
func OpenStore(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("bench: results directory: %w", err)
	}
	return &Store{dir: dir}, nil
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

func (s *Store) path(key string) string { return filepath.Join(s.dir, key+".json") }

// Load returns the stored result of key, or nil if there is none. A file
// that cannot be read or whose settings do not hash to key is an error
// naming it.
func (s *Store) Load(key string) (*Result, error) {
	b, err := os.ReadFile(s.path(key))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	r, err := decodeResult(b)
	if err != nil {
		return nil, fmt.Errorf("bench: %s: %w (delete it, or rerun with --rerun)", s.path(key), err)
	}
	if r.Key != key {
		return nil, fmt.Errorf("bench: %s holds the result of %q, not %q (delete it, or rerun with --rerun)", s.path(key), r.Key, key)
	}
	return r, nil
}

func decodeResult(b []byte) (*Result, error) {
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	key, err := Key(r.Settings)
	if err != nil {
		return nil, err
	}
	if key != r.Key {
		return nil, fmt.Errorf("its settings hash to %s, not to its key %s: the file was edited or written by another version", key, r.Key)
	}
	return &r, nil
}

// Save writes r atomically under its key.
func (s *Store) Save(r *Result) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("bench: encoding %s: %w", r.Key, err)
	}
	return writeFileAtomic(s.path(r.Key), b)
}

// All returns every stored result, sorted by key. Files that are not results
// of this version are skipped and reported in the error returned alongside.
func (s *Store) All() ([]*Result, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	var out []*Result
	var errs []error
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.dir, e.Name()))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r, err := decodeResult(b)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", e.Name(), err))
			continue
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, errors.Join(errs...)
}

// writeFileAtomic writes b to path through a temporary file in the same
// directory and a rename.
func writeFileAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	tmp := f.Name()
	_, werr := f.Write(b)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		os.Remove(tmp)
		return fmt.Errorf("bench: writing %s: %w", path, werr)
	}
	return nil
}
