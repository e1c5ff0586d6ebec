package data

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
)

// Batch holds B windows of T input ids and their targets, flat and
// row-major: row r is X[r*T:(r+1)*T], and Y[i] is the id that follows X[i]
// in the corpus.
type Batch struct {
	X, Y []int
	B, T int
}

// resize sets the batch's shape, reusing its slices when they are big enough.
func (b *Batch) resize(rows, t int) {
	n := rows * t
	if cap(b.X) < n {
		b.X = make([]int, n)
	} else {
		b.X = b.X[:n]
	}
	if cap(b.Y) < n {
		b.Y = make([]int, n)
	} else {
		b.Y = b.Y[:n]
	}
	b.B, b.T = rows, t
}

// fill copies the window starting at tokens[start] into row r.
func (b *Batch) fill(r int, tokens []int, start int) {
	t := b.T
	copy(b.X[r*t:(r+1)*t], tokens[start:start+t])
	copy(b.Y[r*t:(r+1)*t], tokens[start+1:start+t+1])
}

func checkShape(tokens []int, batch, context int) error {
	if batch < 1 {
		return fmt.Errorf("data: batch size %d; expected at least 1", batch)
	}
	if context < 1 {
		return fmt.Errorf("data: context length %d; expected at least 1", context)
	}
	if len(tokens) < context+1 {
		return fmt.Errorf("data: %d tokens are fewer than the %d (context length + 1) one window needs; use more data, a larger split or a shorter context", len(tokens), context+1)
	}
	return nil
}

// Sampler draws training batches of windows at uniformly random positions.
// Its randomness comes only from the PCG it was given, which it owns from
// then on; MarshalBinary and UnmarshalBinary save and restore it, so a
// resumed run draws the same batches as an uninterrupted one.
type Sampler struct {
	tokens   []int
	batch, t int
	src      *rand.PCG
	rng      *rand.Rand
	drawn    uint64
}

// NewSampler returns a Sampler of batches of batch windows of context
// tokens (plus one for the targets) from tokens, drawing positions from src.
func NewSampler(tokens []int, batch, context int, src *rand.PCG) (*Sampler, error) {
	if err := checkShape(tokens, batch, context); err != nil {
		return nil, err
	}
	if src == nil {
		return nil, fmt.Errorf("data: NewSampler needs a *rand.PCG source")
	}
	return &Sampler{tokens: tokens, batch: batch, t: context, src: src, rng: rand.New(src)}, nil
}

// NextInto fills b with the next batch, reusing b's slices when they are
// large enough, so a steady-state loop allocates nothing.
func (s *Sampler) NextInto(b *Batch) {
	b.resize(s.batch, s.t)
	starts := len(s.tokens) - s.t // windows start in [0, len-T-1]
	for r := range s.batch {
		b.fill(r, s.tokens, s.rng.IntN(starts))
	}
	s.drawn++
}

// Next returns the next batch in newly allocated slices.
func (s *Sampler) Next() Batch {
	var b Batch
	s.NextInto(&b)
	return b
}

// Drawn returns the number of batches drawn so far, counting those drawn
// before the state was saved.
func (s *Sampler) Drawn() uint64 { return s.drawn }

// samplerMagic starts a saved Sampler state and names its version.
const samplerMagic = "kiln.data.Sampler.v1"

// MarshalBinary returns the sampler's position: its batch count and PCG
// state, along with the shapes it was made with, which UnmarshalBinary
// checks.
func (s *Sampler) MarshalBinary() ([]byte, error) {
	pcg, err := s.src.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("data: saving sampler: %w", err)
	}
	b := append([]byte(nil), samplerMagic...)
	b = binary.LittleEndian.AppendUint64(b, uint64(s.batch))
	b = binary.LittleEndian.AppendUint64(b, uint64(s.t))
	b = binary.LittleEndian.AppendUint64(b, uint64(len(s.tokens)))
	b = binary.LittleEndian.AppendUint64(b, s.drawn)
	return append(b, pcg...), nil
}

// UnmarshalBinary restores a position saved by MarshalBinary from a sampler
// with the same batch size, context length and number of tokens; the next
// batch is the one the saved sampler would have drawn next.
func (s *Sampler) UnmarshalBinary(state []byte) error {
	const fixed = len(samplerMagic) + 4*8
	if len(state) < fixed || string(state[:len(samplerMagic)]) != samplerMagic {
		return fmt.Errorf("data: sampler state of %d bytes is not a %s state", len(state), samplerMagic)
	}
	rest := state[len(samplerMagic):]
	batch := binary.LittleEndian.Uint64(rest)
	t := binary.LittleEndian.Uint64(rest[8:])
	n := binary.LittleEndian.Uint64(rest[16:])
	drawn := binary.LittleEndian.Uint64(rest[24:])
	if batch != uint64(s.batch) || t != uint64(s.t) || n != uint64(len(s.tokens)) {
		return fmt.Errorf("data: sampler state was saved with batch %d, context %d over %d tokens; this sampler has batch %d, context %d over %d tokens (expected the same data and shapes)",
			batch, t, n, s.batch, s.t, len(s.tokens))
	}
	// Restore into a copy so that a bad state leaves the sampler untouched.
	var src rand.PCG
	if err := src.UnmarshalBinary(rest[32:]); err != nil {
		return fmt.Errorf("data: restoring sampler RNG: %w", err)
	}
	*s.src = src
	s.drawn = drawn
	return nil
}

// Sequential walks a token sequence in consecutive, non-overlapping windows
// of T inputs, so that every token after the first (but for a tail shorter
// than T) is a target exactly once. It is deterministic: evaluation over it
// gives the same loss every time for the same model.
type Sequential struct {
	tokens   []int
	batch, t int
	next     int // index of the next window
}

// NewSequential returns an iterator over tokens in batches of batch windows
// of context tokens.
func NewSequential(tokens []int, batch, context int) (*Sequential, error) {
	if err := checkShape(tokens, batch, context); err != nil {
		return nil, err
	}
	return &Sequential{tokens: tokens, batch: batch, t: context}, nil
}

// Windows returns the number of windows in one pass.
func (q *Sequential) Windows() int { return (len(q.tokens) - 1) / q.t }

// Batches returns the number of batches in one pass; the last one may hold
// fewer than the batch size windows.
func (q *Sequential) Batches() int { return (q.Windows() + q.batch - 1) / q.batch }

// NextInto fills b with the next batch and reports whether there was one;
// at the end of a pass it returns false and leaves b unchanged. The last
// batch of a pass has b.B set to the number of windows left.
func (q *Sequential) NextInto(b *Batch) bool {
	left := q.Windows() - q.next
	if left <= 0 {
		return false
	}
	rows := min(left, q.batch)
	b.resize(rows, q.t)
	for r := range rows {
		b.fill(r, q.tokens, (q.next+r)*q.t)
	}
	q.next += rows
	return true
}

// Reset starts a new pass from the first window.
func (q *Sequential) Reset() { q.next = 0 }
