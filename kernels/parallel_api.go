package kernels

// Parallel calls fn on consecutive ranges [lo, hi) covering [0, n), each at
// most grain long, on up to Threads() threads, and returns when all are done.
// fn must write only outputs that belong to its range; then results do not
// depend on the number of threads.
func Parallel(n, grain int, fn func(lo, hi int)) { parallelFor(n, grain, fn) }
