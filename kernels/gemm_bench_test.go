package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// gemmBenchShapes are the squares and the products of a small GPT training
// step that shared/bench/gemm_bench.py times with OpenBLAS and PyTorch, and
// the per-head attention products.
var gemmBenchShapes = []struct {
	name           string
	m, n, k        int
	transA, transB bool
}{
	{"sq256", 256, 256, 256, false, false},
	{"sq512", 512, 512, 512, false, false},
	{"sq1024", 1024, 1024, 1024, false, false},
	{"sq2048", 2048, 2048, 2048, false, false},
	{"fwd_4096x1536x384_NT", 4096, 1536, 384, false, true},
	{"dX_4096x384x1536_NN", 4096, 384, 1536, false, false},
	{"dW_1536x384x4096_TN", 1536, 384, 4096, true, false},
	{"attnQK_128x128x64_NT", 128, 128, 64, false, true},
	{"attnPV_128x64x128_NN", 128, 64, 128, false, false},
	{"attnQK_256x256x64_NT", 256, 256, 64, false, true},
	{"attnPV_256x64x256_NN", 256, 64, 256, false, false},
}

// BenchmarkSgemm reports GFLOP/s for every shape, path (and GEMM variant
// of a path: avx2_ymm, avx2_zmm) and 1 or 2 threads:
//
//	go test -run '^$' -bench 'Sgemm/avx2_zmm/1T' ./kernels/
func BenchmarkSgemm(b *testing.B) {
	prevThreads := Threads()
	defer SetThreads(prevThreads)
	r := rand.New(rand.NewPCG(1, 1))
	forEachGemmVariant(func(path string, run func(func())) {
		for _, nt := range []int{1, 2} {
			for _, s := range gemmBenchShapes {
				b.Run(fmt.Sprintf("%s/%dT/%s", path, nt, s.name), func(b *testing.B) {
					run(func() {
						SetThreads(nt)
						x := make([]float32, s.m*s.k)
						y := make([]float32, s.k*s.n)
						c := make([]float32, s.m*s.n)
						for i := range x {
							x[i] = float32(r.NormFloat64())
						}
						for i := range y {
							y[i] = float32(r.NormFloat64())
						}
						lda, ldb := s.k, s.n
						if s.transA {
							lda = s.m
						}
						if s.transB {
							ldb = s.k
						}
						b.ReportAllocs()
						b.ResetTimer()
						for b.Loop() {
							Sgemm(s.transA, s.transB, s.m, s.n, s.k, 1, x, lda, y, ldb, 0, c, s.n)
						}
						b.ReportMetric(2*float64(s.m)*float64(s.n)*float64(s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
					})
				})
			}
		}
	})
}
