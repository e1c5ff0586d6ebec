// Command benchtable measures kiln's kernels on every available path and
// prints one table: kernel, shape, throughput (GFLOP/s or GB/s) and the
// ratio to the portable Go path. make bench runs it.
//
//	go run ./kernels/internal/benchtable [-threads 1] [-filter gemm]
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"text/tabwriter"

	"github.com/kiln-ml/kiln/kernels"
)

type bench struct {
	name, shape string
	unit        string  // "GFLOP/s" or "GB/s"
	work        float64 // flops or bytes per call
	run         func()
}

func randSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}

func benches() []bench {
	rng := rand.New(rand.NewPCG(1, 2))
	var out []bench
	gemm := func(name string, m, n, k int, ta, tb bool) {
		ar, ac := m, k
		if ta {
			ar, ac = k, m
		}
		br, bc := k, n
		if tb {
			br, bc = n, k
		}
		a, b, c := randSlice(rng, ar*ac), randSlice(rng, br*bc), make([]float32, m*n)
		out = append(out, bench{"Sgemm " + name, fmt.Sprintf("%dx%dx%d", m, n, k), "GFLOP/s", 2 * float64(m*n*k),
			func() { kernels.Sgemm(ta, tb, m, n, k, 1, a, ac, b, bc, 0, c, n) }})
	}
	gemm("square", 256, 256, 256, false, false)
	gemm("square", 1024, 1024, 1024, false, false)
	gemm("fwd X·Wᵀ", 4096, 1536, 384, false, true)
	gemm("dX dY·W", 4096, 384, 1536, false, false)
	gemm("dW dYᵀ·X", 1536, 384, 4096, true, false)
	gemm("attention QKᵀ", 256, 256, 64, false, true)

	const n = 4 << 20
	x, y, z := randSlice(rng, n), randSlice(rng, n), make([]float32, n)
	mb := func(name string, bytesPerElem int, f func()) {
		out = append(out, bench{name, "4M", "GB/s", float64(bytesPerElem * n), f})
	}
	mb("Add", 12, func() { kernels.Add(z, x, y) })
	mb("Axpy", 12, func() { kernels.Axpy(z, 0.5, x) })
	mb("Dot", 8, func() { kernels.Dot(x, y) })
	mb("Exp", 8, func() { kernels.Exp(z, x) })
	mb("Gelu", 8, func() { kernels.Gelu(z, x) })
	mb("GeluBackward", 12, func() { kernels.GeluBackward(z, x, y) })
	rows, cols := 2048, 1536
	rb := func(name string, bytesPerElem int, f func()) {
		out = append(out, bench{name, fmt.Sprintf("%dx%d", rows, cols), "GB/s", float64(bytesPerElem * rows * cols), f})
	}
	mean, rstd := make([]float32, rows), make([]float32, rows)
	gamma, beta := randSlice(rng, cols), randSlice(rng, cols)
	rb("SoftmaxRows", 8, func() { kernels.SoftmaxRows(z, x, rows, cols) })
	rb("LogSoftmaxRows", 8, func() { kernels.LogSoftmaxRows(z, x, rows, cols) })
	rb("LayerNorm", 8, func() { kernels.LayerNorm(z, mean, rstd, x, gamma, beta, rows, cols, 1e-5) })
	dg, db := make([]float32, cols), make([]float32, cols)
	rb("LayerNormBackward", 12, func() { kernels.LayerNormBackward(z, dg, db, y, x, mean, rstd, gamma, rows, cols) })
	rb("RMSNorm", 8, func() { kernels.RMSNorm(z, rstd, x, gamma, rows, cols, 1e-6) })

	const np = 10_800_000 // the small GPT's parameters
	p, g, m, v := randSlice(rng, np), randSlice(rng, np), make([]float32, np), make([]float32, np)
	h := kernels.AdamWParams{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, StepSize: 1e-3, DenomScale: 1, DecayPre: 1, DecayPost: 1}
	out = append(out, bench{"AdamW update", "10.8M", "GB/s", 28 * np, func() { kernels.AdamW(p, g, m, v, h) }})
	lh := kernels.LionParams{LR: 1e-4, Beta1: 0.9, Beta2: 0.99, Decay: 1}
	out = append(out, bench{"Lion update", "10.8M", "GB/s", 20 * np, func() { kernels.Lion(p, g, m, lh) }})
	return out
}

func measure(b bench) float64 {
	r := testing.Benchmark(func(tb *testing.B) {
		for i := 0; i < tb.N; i++ {
			b.run()
		}
	})
	return b.work / (float64(r.NsPerOp()) / 1e9) / 1e9
}

func main() {
	threads := flag.Int("threads", kernels.Threads(), "kernel threads")
	filter := flag.String("filter", "", "only kernels whose name contains this (case-insensitive)")
	flag.Parse()
	kernels.SetThreads(*threads)
	paths := kernels.Available()
	fmt.Printf("# %s, %d thread(s)\n", kernels.CPU(), *threads)
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	header := "kernel\tshape\tunit\t"
	for _, p := range paths {
		header += p + "\t"
	}
	if len(paths) > 1 {
		header += "ratio to generic\t"
	}
	fmt.Fprintln(tw, header)
	for _, b := range benches() {
		if *filter != "" && !strings.Contains(strings.ToLower(b.name), strings.ToLower(*filter)) {
			continue
		}
		row := fmt.Sprintf("%s\t%s\t%s\t", b.name, b.shape, b.unit)
		var generic, best float64
		for _, p := range paths {
			if err := kernels.Use(p); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			v := measure(b)
			if p == "generic" {
				generic = v
			} else if v > best {
				best = v
			}
			row += fmt.Sprintf("%.1f\t", v)
		}
		if len(paths) > 1 {
			row += fmt.Sprintf("%.1fx\t", best/generic)
		}
		fmt.Fprintln(tw, row)
		fmt.Fprintf(os.Stderr, "measured %s %s\n", b.name, b.shape)
	}
	tw.Flush()
}
