package kernels

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/klauspost/cpuid/v2"
)

// impl is one implementation of the kernels that have more than one.
// A faster path registers a copy of generic with some fields replaced, so a
// kernel without a SIMD version falls back to the portable one.
type impl struct {
	name     string
	supports func() bool
	rank     int // start-up picks the supported path of highest rank

	// gemm is the GEMM tile kernel and its blocking; see gemm.go.
	gemm gemmKernels

	add, sub, mul, div    func(dst, a, b []float32)
	scale                 func(dst, a []float32, s float32)
	axpy                  func(dst []float32, alpha float32, x []float32)
	sum                   func(a []float32) float32
	dot                   func(a, b []float32) float32
	maxVal                func(a []float32) float32
	exp                   func(dst, a []float32)
	tanh                  func(dst, a []float32)
	sigmoid               func(dst, a []float32)
	gelu                  func(dst, a []float32)
	geluBackward          func(dx, x, dy []float32)
	softmaxRow            func(dst, src []float32)
	logSoftmaxRow         func(dst, src []float32)
	softmaxRowBackward    func(dx, y, dy []float32)
	logSoftmaxRowBackward func(dx, y, dy []float32)
	layerNormRow          func(dst, x, gamma, beta []float32, eps float32) (mean, rstd float32)
	rmsNormRow            func(dst, x, gamma []float32, eps float32) (rstd float32)
	adamW                 func(p, g, m, v []float32, h AdamWParams)
	sgd                   func(p, g, b []float32, h SGDParams)
	normBackward          *normBackwardKernels
	lion                  func(p, g, m []float32, h LionParams)
}

var (
	impls  = map[string]*impl{"generic": &genericImpl}
	active = &genericImpl
)

func init() {
	best := "generic"
	for name, p := range impls {
		if p.supports != nil && p.supports() && p.rank > impls[best].rank {
			best = name
		}
	}
	if env := strings.TrimSpace(os.Getenv("KILN_KERNELS")); env != "" {
		if err := Use(env); err != nil {
			fmt.Fprintf(os.Stderr, "kiln: KILN_KERNELS=%q ignored: %v\n", env, err)
			_ = Use(best)
		}
		return
	}
	_ = Use(best)
}

// Use selects the kernel path by name ("generic", "avx2", "avx512"). It returns an
// error if the name is unknown or the CPU cannot run that path. It is meant
// for start-up, tests and benchmarks, not to be called while kernels run.
func Use(name string) error {
	p, ok := impls[name]
	if !ok {
		return fmt.Errorf("kernels: unknown path %q (available: %s)", name, strings.Join(Available(), ", "))
	}
	if p.supports != nil && !p.supports() {
		return fmt.Errorf("kernels: path %q needs CPU features this machine lacks (%s)", name, cpuid.CPU.BrandName)
	}
	active = p
	return nil
}

// Path returns the name of the kernel path in use.
func Path() string { return active.name }

// Available lists the paths this binary has and this CPU can run, sorted.
func Available() []string {
	var names []string
	for name, p := range impls {
		if p.supports == nil || p.supports() {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// CPU describes the processor and the features kiln's dispatch looks at.
func CPU() string {
	return fmt.Sprintf("%s (AVX2=%v FMA3=%v AVX512F=%v, %d logical cores)",
		cpuid.CPU.BrandName, cpuid.CPU.Supports(cpuid.AVX2), cpuid.CPU.Supports(cpuid.FMA3),
		cpuid.CPU.Supports(cpuid.AVX512F), cpuid.CPU.LogicalCores)
}
