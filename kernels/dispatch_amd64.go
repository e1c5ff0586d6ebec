//go:build amd64 && !purego

package kernels

import "github.com/klauspost/cpuid/v2"

// Package-level initialisation runs before any init function, so the avx2
// path is registered before dispatch.go's init picks the best path.
var _ = registerAVX2()

func registerAVX2() bool {
	p := genericImpl
	p.name, p.rank = "avx2", 1
	p.supports = func() bool { return cpuid.CPU.Supports(cpuid.AVX2, cpuid.FMA3) }
	useAVX2Gemm(&p)
	useAVX2Vec(&p)
	register(&p)

	// avx512 is avx2 with the AVX-512 GEMM tile, which does twice the work
	// per instruction; the other kernels are memory-bound and stay AVX2.
	q := p
	q.name, q.rank = "avx512", 2
	q.supports = func() bool { return cpuid.CPU.Supports(cpuid.AVX2, cpuid.FMA3, cpuid.AVX512F, cpuid.BMI2) }
	q.gemm = gemmAVX512
	register(&q)
	return true
}

// register adds a path; architecture files call it during package
// initialisation.
func register(p *impl) { impls[p.name] = p }
