package kernels

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
)

// coverage records which indices the ranges of one parallelRange covered.
type coverage struct {
	hits  []atomic.Int32
	calls atomic.Int32
	grain int
	bad   atomic.Int32 // ranges that do not start on a block boundary
}

func (c *coverage) run(lo, hi int) {
	c.calls.Add(1)
	if lo%c.grain != 0 {
		c.bad.Add(1)
	}
	for i := lo; i < hi; i++ {
		c.hits[i].Add(1)
	}
}

func TestParallelRangeCoversEachIndexOnce(t *testing.T) {
	for _, nt := range []int{1, 2, 3, 8, 100} {
		for _, s := range [][2]int{{0, 1}, {1, 1}, {7, 3}, {1000, 1}, {1000, 7}, {100000, 64}} {
			n, grain := s[0], s[1]
			c := &coverage{hits: make([]atomic.Int32, n), grain: grain}
			parallelRange(nt, n, grain, c)
			for i := range c.hits {
				if c.hits[i].Load() != 1 {
					t.Fatalf("nt=%d n=%d grain=%d: index %d covered %d times", nt, n, grain, i, c.hits[i].Load())
				}
			}
			assert.LessOrEqual(t, int(c.calls.Load()), max(nt, 1), "nt=%d n=%d grain=%d", nt, n, grain)
			assert.Zero(t, c.bad.Load(), "a range started inside a block")
		}
	}
}

// TestParallelRangeConcurrentAndNested runs many parallel calls at once,
// some from inside another call's range, as kernels called from several
// goroutines do.
func TestParallelRangeConcurrentAndNested(t *testing.T) {
	var wg sync.WaitGroup
	var total atomic.Int64
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rep := 0; rep < 50; rep++ {
				parallelRange(4, 64, 4, rangeFunc(func(lo, hi int) {
					parallelRange(3, hi-lo, 1, rangeFunc(func(lo2, hi2 int) {
						total.Add(int64(hi2 - lo2))
					}))
				}))
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, int64(16*50*64), total.Load())
}
