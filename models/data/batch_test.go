package data

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// iota returns 0, 1, ..., n-1: with these tokens a window's ids are its positions.
func iota(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

func TestSamplerErrors(t *testing.T) {
	src := rand.NewPCG(1, 2)
	_, err := NewSampler(iota(10), 0, 4, src)
	assert.ErrorContains(t, err, "batch size 0")
	_, err = NewSampler(iota(10), 2, 0, src)
	assert.ErrorContains(t, err, "context length 0")
	_, err = NewSampler(iota(4), 2, 4, src)
	assert.ErrorContains(t, err, "4 tokens are fewer than the 5 (context length + 1)")
	_, err = NewSampler(iota(5), 2, 4, nil)
	assert.ErrorContains(t, err, "needs a *rand.PCG")
	_, err = NewSampler(iota(5), 2, 4, src)
	assert.NoError(t, err, "exactly T+1 tokens make one window")
}

func TestSamplerWindows(t *testing.T) {
	const n, B, T = 50, 4, 8
	s, err := NewSampler(iota(n), B, T, rand.NewPCG(3, 4))
	require.NoError(t, err)
	seen := make(map[int]bool)
	var b Batch
	for range 500 {
		s.NextInto(&b)
		require.Equal(t, B, b.B)
		require.Equal(t, T, b.T)
		require.Len(t, b.X, B*T)
		require.Len(t, b.Y, B*T)
		for r := range B {
			start := b.X[r*T]
			require.GreaterOrEqual(t, start, 0)
			require.LessOrEqual(t, start, n-T-1)
			seen[start] = true
			for j := range T {
				require.Equal(t, start+j, b.X[r*T+j], "rows are contiguous windows")
				require.Equal(t, start+j+1, b.Y[r*T+j], "Y is X shifted by one")
			}
		}
	}
	assert.Len(t, seen, n-T, "every start in [0, n-T-1] is drawn, the last one included")
	assert.Equal(t, uint64(500), s.Drawn())
}

func TestSamplerDeterministic(t *testing.T) {
	tokens := iota(1000)
	a, err := NewSampler(tokens, 3, 16, rand.NewPCG(7, 8))
	require.NoError(t, err)
	b, err := NewSampler(tokens, 3, 16, rand.NewPCG(7, 8))
	require.NoError(t, err)
	c, err := NewSampler(tokens, 3, 16, rand.NewPCG(7, 9))
	require.NoError(t, err)
	differs := false
	for range 20 {
		ba, bb, bc := a.Next(), b.Next(), c.Next()
		assert.Equal(t, ba, bb)
		if !assert.ObjectsAreEqual(ba, bc) {
			differs = true
		}
	}
	assert.True(t, differs, "another seed gives other batches")
}

func TestSamplerRestore(t *testing.T) {
	tokens := iota(1000)
	s, err := NewSampler(tokens, 4, 16, rand.NewPCG(11, 12))
	require.NoError(t, err)
	for range 37 {
		s.Next()
	}
	state, err := s.MarshalBinary()
	require.NoError(t, err)
	var want []Batch
	for range 10 {
		want = append(want, s.Next())
	}

	// A sampler seeded differently, restored, continues the same sequence.
	r, err := NewSampler(tokens, 4, 16, rand.NewPCG(99, 99))
	require.NoError(t, err)
	require.NoError(t, r.UnmarshalBinary(state))
	assert.Equal(t, uint64(37), r.Drawn())
	for i := range 10 {
		assert.Equal(t, want[i], r.Next(), "batch %d after restore", i)
	}
	assert.Equal(t, uint64(47), r.Drawn())
}

func TestSamplerRestoreErrors(t *testing.T) {
	tokens := iota(1000)
	s, err := NewSampler(tokens, 4, 16, rand.NewPCG(1, 1))
	require.NoError(t, err)
	state, err := s.MarshalBinary()
	require.NoError(t, err)

	other, err := NewSampler(tokens, 4, 32, rand.NewPCG(5, 5))
	require.NoError(t, err)
	before := other.Next()
	other, err = NewSampler(tokens, 4, 32, rand.NewPCG(5, 5))
	require.NoError(t, err)
	assert.ErrorContains(t, other.UnmarshalBinary(state), "saved with batch 4, context 16 over 1000 tokens; this sampler has batch 4, context 32")
	assert.ErrorContains(t, other.UnmarshalBinary([]byte("junk")), "is not a kiln.data.Sampler.v1 state")
	assert.Equal(t, before, other.Next(), "a failed restore leaves the sampler as it was")

	same, err := NewSampler(tokens, 4, 16, rand.NewPCG(5, 5))
	require.NoError(t, err)
	before = same.Next()
	same, err = NewSampler(tokens, 4, 16, rand.NewPCG(5, 5))
	require.NoError(t, err)
	assert.ErrorContains(t, same.UnmarshalBinary(state[:len(state)-3]), "restoring sampler RNG")
	assert.Equal(t, before, same.Next(), "a failed restore leaves the sampler as it was")
	assert.Equal(t, uint64(1), same.Drawn())
}

func TestSamplerNoAllocs(t *testing.T) {
	s, err := NewSampler(iota(10000), 8, 64, rand.NewPCG(1, 2))
	require.NoError(t, err)
	var b Batch
	s.NextInto(&b)
	allocs := testing.AllocsPerRun(100, func() { s.NextInto(&b) })
	assert.Zero(t, allocs)
}

func TestSequential(t *testing.T) {
	const B, T = 3, 4
	tokens := iota(31) // (31-1)/4 = 7 windows: batches of 3, 3, 1; tokens 29, 30 are a short tail
	q, err := NewSequential(tokens, B, T)
	require.NoError(t, err)
	assert.Equal(t, 7, q.Windows())
	assert.Equal(t, 3, q.Batches())

	pass := func() (xs, ys, rows []int) {
		var b Batch
		for q.NextInto(&b) {
			require.Equal(t, T, b.T)
			require.Len(t, b.X, b.B*T)
			rows = append(rows, b.B)
			xs = append(xs, b.X...)
			ys = append(ys, b.Y...)
		}
		return
	}
	xs, ys, rows := pass()
	assert.Equal(t, []int{3, 3, 1}, rows)
	assert.Equal(t, tokens[:28], xs, "windows are consecutive and do not overlap")
	assert.Equal(t, tokens[1:29], ys)

	var b Batch
	assert.False(t, q.NextInto(&b), "the pass is over")
	q.Reset()
	xs2, ys2, _ := pass()
	assert.Equal(t, xs, xs2)
	assert.Equal(t, ys, ys2)

	_, err = NewSequential(iota(4), 1, 4)
	assert.ErrorContains(t, err, "fewer than the 5")
	one, err := NewSequential(iota(5), 8, 4)
	require.NoError(t, err)
	require.True(t, one.NextInto(&b))
	assert.Equal(t, Batch{X: []int{0, 1, 2, 3}, Y: []int{1, 2, 3, 4}, B: 1, T: 4}, b)
}
