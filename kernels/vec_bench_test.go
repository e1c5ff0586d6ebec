package kernels

import (
	"fmt"
	"testing"
)

// The vector benchmarks report GB/s (b.SetBytes counts each element read or
// written once) for every kernel path, on a slice that fits in L1 (4K
// elements), one that fits in L2 (256K) and one that does not fit in cache
// (4M). BenchmarkCopy is the memory-bandwidth ceiling for the same sizes.
//
//	go test ./kernels/ -run '^$' -bench 'Vec|Rows|Update|Copy'

var benchSizes = []struct {
	name string
	n    int
}{{"4K", 4 << 10}, {"256K", 256 << 10}, {"4M", 4 << 20}}

// benchOnEveryPath runs fn as a sub-benchmark per kernel path.
func benchOnEveryPath(b *testing.B, fn func(b *testing.B)) {
	prev := Path()
	defer func() { _ = Use(prev) }()
	for _, name := range Available() {
		b.Run(name, func(b *testing.B) {
			if err := Use(name); err != nil {
				b.Fatal(err)
			}
			fn(b)
		})
	}
}

func BenchmarkVec(b *testing.B) {
	kernels := []struct {
		name  string
		bytes int // per element
		run   func(dst, x, y []float32)
	}{
		{"Add", 12, func(d, x, y []float32) { Add(d, x, y) }},
		{"Sub", 12, func(d, x, y []float32) { Sub(d, x, y) }},
		{"Mul", 12, func(d, x, y []float32) { Mul(d, x, y) }},
		{"Div", 12, func(d, x, y []float32) { Div(d, x, y) }},
		{"Scale", 8, func(d, x, _ []float32) { Scale(d, x, 1.0001) }},
		{"Axpy", 12, func(d, x, _ []float32) { Axpy(d, 1e-6, x) }},
		{"Sum", 4, func(_, x, _ []float32) { Sum(x) }},
		{"Dot", 8, func(_, x, y []float32) { Dot(x, y) }},
		{"Max", 4, func(_, x, _ []float32) { Max(x) }},
		{"Exp", 8, func(d, x, _ []float32) { Exp(d, x) }},
		{"Tanh", 8, func(d, x, _ []float32) { Tanh(d, x) }},
		{"Sigmoid", 8, func(d, x, _ []float32) { Sigmoid(d, x) }},
		{"Gelu", 8, func(d, x, _ []float32) { Gelu(d, x) }},
		{"GeluBackward", 12, func(d, x, y []float32) { GeluBackward(d, x, y) }},
	}
	for _, k := range kernels {
		b.Run(k.name, func(b *testing.B) {
			for _, sz := range benchSizes {
				b.Run(sz.name, func(b *testing.B) {
					r := newTestRand(1)
					x := normalSlice(r, sz.n, 0, 2)
					y := uniformSlice(r, sz.n, 0.5, 2)
					d := make([]float32, sz.n)
					benchOnEveryPath(b, func(b *testing.B) {
						b.SetBytes(int64(k.bytes * sz.n))
						for b.Loop() {
							k.run(d, x, y)
						}
					})
				})
			}
		})
	}
}

// rowShapesBench are an attention score matrix (T x T heads) and an MLP
// activation of a small GPT (batch*T x 4*dim).
var rowShapesBench = [][2]int{{4096, 256}, {2048, 1536}}

func BenchmarkRows(b *testing.B) {
	kernels := []struct {
		name  string
		bytes int // per element
		run   func(rows, cols int, out, x, dy, gamma, beta, mean, rstd, dg, db []float32)
	}{
		{"SoftmaxRows", 8, func(rows, cols int, out, x, _, _, _, _, _, _, _ []float32) {
			SoftmaxRows(out, x, rows, cols)
		}},
		{"LogSoftmaxRows", 8, func(rows, cols int, out, x, _, _, _, _, _, _, _ []float32) {
			LogSoftmaxRows(out, x, rows, cols)
		}},
		{"SoftmaxRowsBackward", 12, func(rows, cols int, out, x, dy, _, _, _, _, _, _ []float32) {
			SoftmaxRowsBackward(out, x, dy, rows, cols)
		}},
		{"LogSoftmaxRowsBackward", 12, func(rows, cols int, out, x, dy, _, _, _, _, _, _ []float32) {
			LogSoftmaxRowsBackward(out, x, dy, rows, cols)
		}},
		{"LayerNorm", 8, func(rows, cols int, out, x, _, gamma, beta, mean, rstd, _, _ []float32) {
			LayerNorm(out, mean, rstd, x, gamma, beta, rows, cols, 1e-5)
		}},
		{"LayerNormBackward", 12, func(rows, cols int, out, x, dy, gamma, _, mean, rstd, dg, db []float32) {
			LayerNormBackward(out, dg, db, dy, x, mean, rstd, gamma, rows, cols)
		}},
		{"RMSNorm", 8, func(rows, cols int, out, x, _, gamma, _, _, rstd, _, _ []float32) {
			RMSNorm(out, rstd, x, gamma, rows, cols, 1e-6)
		}},
		{"RMSNormBackward", 12, func(rows, cols int, out, x, dy, gamma, _, _, rstd, dg, _ []float32) {
			RMSNormBackward(out, dg, dy, x, rstd, gamma, rows, cols)
		}},
	}
	for _, k := range kernels {
		b.Run(k.name, func(b *testing.B) {
			for _, sh := range rowShapesBench {
				rows, cols := sh[0], sh[1]
				b.Run(fmt.Sprintf("%dx%d", rows, cols), func(b *testing.B) {
					r := newTestRand(2)
					x := normalSlice(r, rows*cols, 0, 2)
					dy := normalSlice(r, rows*cols, 0, 1)
					gamma, beta := normalSlice(r, cols, 1, 0.1), normalSlice(r, cols, 0, 0.1)
					mean, rstd := make([]float32, rows), make([]float32, rows)
					LayerNorm(make([]float32, rows*cols), mean, rstd, x, gamma, beta, rows, cols, 1e-5)
					dg, db := make([]float32, cols), make([]float32, cols)
					out := make([]float32, rows*cols)
					benchOnEveryPath(b, func(b *testing.B) {
						b.SetBytes(int64(k.bytes * rows * cols))
						for b.Loop() {
							k.run(rows, cols, out, x, dy, gamma, beta, mean, rstd, dg, db)
						}
					})
				})
			}
		})
	}
}

// updateParams is the parameter count of the small GPT whose PyTorch AdamW
// step takes about 38 ms on the development machine.
const updateParams = 10_800_000

func BenchmarkUpdate(b *testing.B) {
	r := newTestRand(3)
	p := normalSlice(r, updateParams, 0, 0.02)
	g := normalSlice(r, updateParams, 0, 1e-3)
	m := make([]float32, updateParams)
	v := make([]float32, updateParams)
	for _, bc := range []struct {
		name  string
		bytes int64 // per element
		run   func()
	}{
		{"AdamW", 28, func() { AdamW(p, g, m, v, adamWSettings[0]) }}, // read p, g, m, v; write p, m, v
		{"AdamW-HF", 28, func() { AdamW(p, g, m, v, adamWSettings[1]) }},
		{"Lion", 20, func() { Lion(p, g, m, lionCases[0].params()) }}, // read p, g, m; write p, m
		{"SGD", 12, func() { SGD(p, g, nil, SGDParams{LR: 0.1}) }},    // read p, g; write p
		{"SGD-momentum", 20, func() { SGD(p, g, m, SGDParams{LR: 0.1, Momentum: 0.9}) }},
		{"SGD-nesterov-decay", 20, func() { SGD(p, g, m, SGDParams{LR: 0.1, Momentum: 0.9, Nesterov: true, WeightDecay: 1e-4}) }},
	} {
		b.Run(bc.name+"/10.8M", func(b *testing.B) {
			benchOnEveryPath(b, func(b *testing.B) {
				b.SetBytes(bc.bytes * updateParams)
				for b.Loop() {
					bc.run()
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/1e6/float64(b.N), "ms/step")
			})
		})
	}
}

// BenchmarkCopy is Go's copy of n float32s (8n bytes moved) on one thread
// and split over threads the way the elementwise kernels are: the memory
// bandwidth the kernels are measured against.
func BenchmarkCopy(b *testing.B) {
	sizes := append(append([]struct {
		name string
		n    int
	}(nil), benchSizes...), struct {
		name string
		n    int
	}{"10.8M", updateParams})
	for _, sz := range sizes {
		src := make([]float32, sz.n)
		dst := make([]float32, sz.n)
		b.Run(sz.name+"/1thread", func(b *testing.B) {
			b.SetBytes(int64(8 * sz.n))
			for b.Loop() {
				copy(dst, src)
			}
		})
		b.Run(sz.name+"/parallel", func(b *testing.B) {
			b.SetBytes(int64(8 * sz.n))
			for b.Loop() {
				if sz.n < 2*elemGrain {
					copy(dst, src)
					continue
				}
				parallelFor(sz.n, elemGrain, func(lo, hi int) { copy(dst[lo:hi], src[lo:hi]) })
			}
		})
	}
}
