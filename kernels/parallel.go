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

// maxPoolWorkers bounds the helper goroutines: more than any machine will be
// told to use; idle workers cost nothing.
const maxPoolWorkers = 64

// parallelCall is one parallelRange: its ranges are handed out from a
// counter that both the helpers and the caller draw from, so the caller
// never waits for a helper that has not started (on a busy machine it may
// not get a core for milliseconds); it does the range itself instead.
type parallelCall struct {
	r        ranger
	n, grain int
	per      int // blocks per range
	ranges   int
	// ticket holds gen<<16 | ranges<<8 | next range: a helper reads only
	// the ticket until it has taken a range, and one woken for an earlier
	// use of this call (gen differs) takes nothing.
	ticket atomic.Uint64
	gen    uint64
	done   chan struct{} // one send per range a helper ran
}

type wakeup struct {
	call *parallelCall
	gen  uint64
}

var (
	poolOnce sync.Once
	wakeups  chan wakeup

	// Idle calls, kept (not in a sync.Pool, which the GC empties) so that
	// starting parallel work never allocates once warm.
	callsMu sync.Mutex
	calls   []*parallelCall
)

func getCall() *parallelCall {
	callsMu.Lock()
	defer callsMu.Unlock()
	if n := len(calls); n > 0 {
		c := calls[n-1]
		calls = calls[:n-1]
		return c
	}
	return &parallelCall{done: make(chan struct{}, maxPoolWorkers)}
}

func putCall(c *parallelCall) {
	c.r = nil
	callsMu.Lock()
	calls = append(calls, c)
	callsMu.Unlock()
}

func startPool() {
	wakeups = make(chan wakeup, 4*maxPoolWorkers)
	for i := 0; i < maxPoolWorkers; i++ {
		go func() {
			for w := range wakeups {
				w.call.help(w.gen)
			}
		}()
	}
}

// take claims the next range of generation gen, or returns -1.
func (c *parallelCall) take(gen uint64) int {
	for {
		t := c.ticket.Load()
		next, ranges := int(t&0xff), int(t>>8&0xff)
		if t>>16 != gen || next >= ranges {
			return -1
		}
		if c.ticket.CompareAndSwap(t, t+1) {
			return next
		}
	}
}

func (c *parallelCall) runRange(i int) {
	lo := i * c.per * c.grain
	c.r.run(lo, min(lo+c.per*c.grain, c.n))
}

// help runs ranges for a helper until none are left.
func (c *parallelCall) help(gen uint64) {
	for {
		i := c.take(gen)
		if i < 0 {
			return
		}
		c.runRange(i)
		c.done <- struct{}{}
	}
}

// parallelFor calls fn on consecutive ranges [lo, hi) that cover [0, n), each
// made of whole blocks of grain (the last may be shorter), using up to
// Threads() threads. fn must only write outputs that belong to its range, so
// results never depend on the split.
func parallelFor(n, grain int, fn func(lo, hi int)) {
	parallelRange(Threads(), n, grain, rangeFunc(fn))
}

// parallelRange is parallelFor for at most nt threads and a ranger. There are
// at most nt calls of r.run, on ranges of whole blocks, each call on one
// thread at a time.
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
	nt = min(nt, blocks, maxPoolWorkers)
	poolOnce.Do(startPool)
	c := getCall()
	c.r, c.n, c.grain = r, n, grain
	c.per = (blocks + nt - 1) / nt
	c.ranges = (blocks + c.per - 1) / c.per
	c.gen = (c.gen + 1) & (1<<48 - 1)
	c.ticket.Store(c.gen<<16 | uint64(c.ranges)<<8 | 1) // range 0 is the caller's
	for i := 1; i < c.ranges; i++ {
		select {
		case wakeups <- wakeup{c, c.gen}:
		default: // every helper is busy: the caller does the rest
		}
	}
	c.runRange(0)
	mine := 1
	for {
		i := c.take(c.gen)
		if i < 0 {
			break
		}
		c.runRange(i)
		mine++
	}
	// Every range is taken; wait for those the helpers are running.
	for ; mine < c.ranges; mine++ {
		<-c.done
	}
	putCall(c)
}
