package tensor_test

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/tensor"
)

// sameArray reports whether two non-empty slices start at the same element.
func sameArray(a, b []float32) bool { return len(a) > 0 && len(b) > 0 && &a[0] == &b[0] }

func TestPoolReusesExactLength(t *testing.T) {
	var p tensor.Pool
	x := p.Get(3, 4)
	require.Equal(t, []int{3, 4}, x.Shape())
	require.True(t, x.IsContiguous())
	require.Len(t, x.Storage(), 12)
	s := x.Storage()
	p.Put(s)

	// Another shape of the same length gets the same storage back.
	y := p.Get(2, 6)
	assert.True(t, sameArray(s, y.Storage()), "storage of the same length is reused")
	assert.Equal(t, []int{2, 6}, y.Shape())
	assert.Equal(t, []int{6, 1}, y.Strides())

	// The pool no longer holds it: the next Get allocates.
	z := p.Get(12)
	assert.False(t, sameArray(s, z.Storage()))

	// A different length never gets it.
	p.Put(y.Storage())
	w := p.Get(11)
	assert.Len(t, w.Storage(), 11)
	assert.False(t, sameArray(s, w.Storage()))
	assert.True(t, sameArray(s, p.GetSlice(12)))
}

func TestPoolLastInFirstOut(t *testing.T) {
	var p tensor.Pool
	a, b := p.GetSlice(8), p.GetSlice(8)
	p.Put(a)
	p.Put(b)
	assert.True(t, sameArray(b, p.GetSlice(8)))
	assert.True(t, sameArray(a, p.GetSlice(8)))
}

func TestPoolGetZeroed(t *testing.T) {
	var p tensor.Pool
	x := p.Get(5)
	x.Fill(3)
	p.Put(x.Storage())
	z := p.GetZeroed(5)
	require.True(t, sameArray(x.Storage(), z.Storage()))
	assert.Equal(t, []float32{0, 0, 0, 0, 0}, z.Data())
	assert.Equal(t, []float32{0, 0, 0, 0}, p.GetZeroed(2, 2).Data())
}

func TestPoolHeld(t *testing.T) {
	var p tensor.Pool
	assert.Equal(t, int64(0), p.Held())
	a, b, c := p.GetSlice(10), p.GetSlice(10), p.GetSlice(3)
	p.Put(a)
	assert.Equal(t, int64(40), p.Held())
	p.Put(b)
	p.Put(c)
	assert.Equal(t, int64(92), p.Held())
	p.GetSlice(10)
	assert.Equal(t, int64(52), p.Held())
	p.GetSlice(7) // a miss does not change what the pool holds
	assert.Equal(t, int64(52), p.Held())
	p.Clear()
	assert.Equal(t, int64(0), p.Held())
	assert.False(t, sameArray(c, p.GetSlice(3)), "Clear drops storage")
}

func TestPoolEmptyAndZeroLength(t *testing.T) {
	var p tensor.Pool
	p.Put(nil)
	p.Put([]float32{})
	assert.Equal(t, int64(0), p.Held())
	e := p.Get(0, 4)
	assert.Equal(t, []int{0, 4}, e.Shape())
	assert.Empty(t, e.Data())
	s := p.Get()
	assert.Equal(t, []int{}, s.Shape())
	assert.Len(t, s.Data(), 1)
	assert.Empty(t, p.GetSlice(0))
}

func TestPoolPanics(t *testing.T) {
	var p tensor.Pool
	assertPanicMentions(t, func() { p.Get(2, -1) }, "tensor.Pool.Get", "[2 -1]")
	assertPanicMentions(t, func() { p.GetZeroed(-1) }, "[-1]")
	assertPanicMentions(t, func() { p.GetSlice(-3) }, "tensor.Pool.GetSlice", "-3")
}

// TestPoolPutKeepsOnlyTheSliceItWasGiven checks that Put takes back the
// elements it was handed and nothing past len: the caller still owns the
// rest of a larger array.
func TestPoolPutKeepsOnlyTheSliceItWasGiven(t *testing.T) {
	var p tensor.Pool
	buf := make([]float32, 8)
	for i := range buf {
		buf[i] = float32(i)
	}
	p.Put(buf[:4])
	assert.Equal(t, int64(16), p.Held())
	got := p.GetSlice(4)
	require.Len(t, got, 4)
	assert.True(t, sameArray(buf, got))
	assert.Equal(t, 4, cap(got), "handed-out storage must not reach into the caller's elements")
	assert.Equal(t, []float32{4, 5, 6, 7}, buf[4:], "Put must not touch elements past len")
	assert.Equal(t, int64(0), p.Held())
}

// TestPoolConcurrent has goroutines draw, mark, check and return storage at
// once; run it with -race. Every buffer a goroutine holds must be its
// own: a buffer handed out twice shows up as a foreign mark.
func TestPoolConcurrent(t *testing.T) {
	var p tensor.Pool
	const workers, rounds = 8, 500
	lengths := []int{4, 16, 17, 64}
	var wg sync.WaitGroup
	errs := make(chan string, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mark := float32(w + 1)
			for r := range rounds {
				var held [][]float32
				for k := range 1 + r%3 {
					s := p.GetSlice(lengths[(r+k+w)%len(lengths)])
					for i := range s {
						s[i] = mark
					}
					held = append(held, s)
				}
				for _, s := range held {
					for _, v := range s {
						if v != mark {
							errs <- "a buffer was handed to two goroutines at once"
							return
						}
					}
					p.Put(s)
				}
				_ = p.Held()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	// Everything went back: what the pool holds is a whole number of
	// buffers of the lengths used, and at most what all workers held at once.
	held := p.Held()
	assert.Positive(t, held)
	assert.LessOrEqual(t, held, int64(workers*3*64*4))
}
