package tensor

import (
	"fmt"
	"math"
	"sync"
)

// Pool keeps released storage by exact length and hands it out again, so a
// loop that repeats the same shapes stops allocating after its first pass.
// It is safe for concurrent use. The zero value is ready to use.
type Pool struct {
	mu    sync.Mutex
	free  map[int][][]float32
	bytes int64 // bytes held in free lists
}

// poison makes released storage NaN so that a use after release shows up
// in results; it is on in builds with the kilndebug tag.
const poison = poisonDefault

// Get returns a contiguous tensor of the given shape whose contents are
// unspecified (whatever the storage held last).
func (p *Pool) Get(shape ...int) *Tensor {
	n := checkShape("tensor.Pool.Get", shape)
	return fromStorage(p.get(n), shape)
}

// GetZeroed returns a contiguous tensor of zeros of the given shape.
func (p *Pool) GetZeroed(shape ...int) *Tensor {
	t := p.Get(shape...)
	clear(t.data)
	return t
}

// GetSlice returns storage of length n with unspecified contents.
func (p *Pool) GetSlice(n int) []float32 {
	if n < 0 {
		panic(fmt.Sprintf("tensor.Pool.GetSlice: negative length %d", n))
	}
	return p.get(n)
}

func (p *Pool) get(n int) []float32 {
	p.mu.Lock()
	if l := p.free[n]; len(l) > 0 {
		s := l[len(l)-1]
		l[len(l)-1] = nil
		p.free[n] = l[:len(l)-1]
		p.bytes -= int64(4 * n)
		p.mu.Unlock()
		return s
	}
	p.mu.Unlock()
	return make([]float32, n)
}

// Put returns storage to the pool, to be handed out again by a Get of its
// length. The caller must not use it, or any tensor that views it, afterwards.
func (p *Pool) Put(s []float32) {
	if len(s) == 0 {
		return
	}
	// Take back exactly len(s) elements: whatever lies past len in the
	// array still belongs to the caller, so it is neither poisoned nor
	// handed out again.
	s = s[:len(s):len(s)]
	if poison {
		nan := float32(math.NaN())
		for i := range s {
			s[i] = nan
		}
	}
	p.mu.Lock()
	if p.free == nil {
		p.free = make(map[int][][]float32)
	}
	p.free[len(s)] = append(p.free[len(s)], s)
	p.bytes += int64(4 * len(s))
	p.mu.Unlock()
}

// Held returns the number of bytes of storage waiting in the pool.
func (p *Pool) Held() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.bytes
}

// Clear drops all storage held by the pool.
func (p *Pool) Clear() {
	p.mu.Lock()
	p.free = nil
	p.bytes = 0
	p.mu.Unlock()
}
