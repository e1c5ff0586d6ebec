// Package kernels holds kiln's compute kernels: functions over flat float32
// slices (GEMM, elementwise maps, reductions, row softmax, norms, fused
// optimizer updates) that never allocate and know nothing of tensors.
//
// Every kernel has a portable Go implementation. Faster implementations
// (AVX2+FMA assembly on amd64) are chosen at start-up from the CPU's features;
// the environment variable KILN_KERNELS=generic, or building with the purego
// tag, forces the portable path. Use selects a path at run time, which tests
// and benchmarks use to compare paths.
//
// Work that is split over threads is split into fixed blocks whose size does
// not depend on the number of threads, and partial results are combined in a
// fixed order, so results are bitwise identical whatever SetThreads says.
//
//	c := make([]float32, m*n)
//	kernels.Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
package kernels
