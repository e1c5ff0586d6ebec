package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
)

var threads atomic.Int32

func init() { threads.Store(int32(runtime.GOMAXPROCS(0))) }

// SetThreads sets how many threads kernels may use (at least 1). Results do
// not depend on it: work is split in fixed blocks.
func SetThreads(n int) {
	if n < 1 {
		n = 1
	}
	threads.Store(int32(n))
}

// Threads returns the number of threads kernels may use.
func Threads() int { return int(threads.Load()) }

// ranger is work over a range of block indices. Kernels that run often pass a
// pointer type here rather than a closure, so that starting parallel work
// does not allocate.
type ranger interface{ run(lo, hi int) }

type rangeFunc func(lo, hi int)

func (f rangeFunc) run(lo, hi int) { f(lo, hi) }

type task struct {
	r      ranger
	lo, hi int
	wg     *sync.WaitGroup
}

var (
	poolOnce sync.Once
	tasks    chan task
	wgPool   = sync.Pool{New: func() any { return new(sync.WaitGroup) }}
)

func startPool() {
	tasks = make(chan task, 256)
	for i := 0; i < 64; i++ { // more than any machine will be told to use; idle workers cost nothing
		go func() {
			for t := range tasks {
				t.r.run(t.lo, t.hi)
				t.wg.Done()
			}
		}()
	}
}

// parallelFor calls fn on consecutive ranges [lo, hi) that cover [0, n), each
// made of whole blocks of grain (the last may be shorter), using up to
// Threads() threads. fn must only write outputs that belong to its range, so
// results never depend on the split.
func parallelFor(n, grain int, fn func(lo, hi int)) {
	parallelRange(Threads(), n, grain, rangeFunc(fn))
}

// parallelRange is parallelFor for at most nt threads and a ranger. Each call
// of r.run is on its own thread and gets a contiguous run of whole blocks;
// there are at most nt calls.
func parallelRange(nt, n, grain int, r ranger) {
	if n <= 0 {
		return
	}
	if grain < 1 {
		grain = 1
	}
	blocks := (n + grain - 1) / grain
	if nt <= 1 || blocks <= 1 {
		r.run(0, n)
		return
	}
	if nt > blocks {
		nt = blocks
	}
	poolOnce.Do(startPool)
	// Give each thread a contiguous run of whole blocks.
	wg := wgPool.Get().(*sync.WaitGroup)
	per := (blocks + nt - 1) / nt
	firstHi := min(per*grain, n)
	for t := 1; t < nt; t++ {
		lo := t * per * grain
		hi := min((t+1)*per*grain, n)
		if lo >= hi {
			break
		}
		wg.Add(1)
		tasks <- task{r: r, lo: lo, hi: hi, wg: wg}
	}
	r.run(0, firstHi)
	wg.Wait()
	wgPool.Put(wg)
}
