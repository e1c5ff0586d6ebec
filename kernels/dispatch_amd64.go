//go:build amd64 && !purego

package kernels

import "github.com/klauspost/cpuid/v2"

// Package-level initialisation runs before any init function, so the avx2
// path is registered before dispatch.go's init picks the best path.
var _ = registerAVX2()

func registerAVX2() bool {
	p := genericImpl
	p.name = "avx2"
	p.supports = func() bool { return cpuid.CPU.Supports(cpuid.AVX2, cpuid.FMA3) }
	useAVX2Gemm(&p)
	useAVX2Vec(&p)
	register(&p)
	return true
}

// register adds a path; architecture files call it during package
// initialisation.
func register(p *impl) { impls[p.name] = p }
