package tensor_test

import (
	"testing"

	"github.com/kiln-ml/kiln/tensor"
)

// The shapes are those of a small GPT step: 4096 tokens (16 sequences of
// 256) of width 384.

func benchBinary(b *testing.B, a, c *tensor.Tensor) {
	shape, err := tensor.BroadcastShapes(a.Shape(), c.Shape())
	if err != nil {
		b.Fatal(err)
	}
	dst := tensor.New(shape...)
	b.SetBytes(int64(4 * (a.Size() + c.Size() + dst.Size())))
	b.ReportAllocs()
	for b.Loop() {
		tensor.BinaryInto(tensor.OpAdd, dst, a, c)
	}
}

func BenchmarkBinaryIntoContiguous(b *testing.B) {
	rng := newRNG(30)
	benchBinary(b, tensor.Randn(rng, 4096, 384), tensor.Randn(rng, 4096, 384))
}

func BenchmarkBinaryIntoBias(b *testing.B) {
	rng := newRNG(31)
	benchBinary(b, tensor.Randn(rng, 4096, 384), tensor.Randn(rng, 384))
}

func BenchmarkBinaryIntoScalar(b *testing.B) {
	rng := newRNG(32)
	benchBinary(b, tensor.Randn(rng, 4096, 384), tensor.Scalar(0.5))
}

func BenchmarkBinaryIntoTransposed(b *testing.B) {
	rng := newRNG(33)
	benchBinary(b, tensor.Randn(rng, 384, 4096).T(), tensor.Randn(rng, 4096, 384))
}

func BenchmarkSumToBias(b *testing.B) { benchSumTo(b, 384) }

func BenchmarkContiguousTransposed(b *testing.B) {
	x := tensor.Randn(newRNG(35), 1024, 1024).T()
	b.SetBytes(int64(2 * 4 * x.Size()))
	b.ReportAllocs()
	for b.Loop() {
		_ = x.Contiguous()
	}
}

func BenchmarkMatMulBatchedShared(b *testing.B) {
	rng := newRNG(36)
	x, w := tensor.Randn(rng, 16, 128, 128), tensor.Randn(rng, 128, 384)
	b.ReportAllocs()
	for b.Loop() {
		_ = tensor.MatMul(x, w)
	}
	b.ReportMetric(2*16*128*128*384*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func BenchmarkMatMulAttentionScores(b *testing.B) {
	rng := newRNG(37)
	const B, T, H, D = 4, 128, 6, 64
	q := tensor.Randn(rng, B, T, H, D).Permute(0, 2, 1, 3)
	kt := tensor.Randn(rng, B, T, H, D).Permute(0, 2, 3, 1)
	out := tensor.New(B, H, T, T)
	b.ReportAllocs()
	for b.Loop() {
		tensor.MatMulInto(out, q, kt, 1, 0)
	}
	b.ReportMetric(2*B*H*T*T*D*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func benchSumTo(b *testing.B, dst ...int) {
	src := tensor.Randn(newRNG(38), 4096, 384)
	d := tensor.New(dst...)
	b.SetBytes(int64(4 * src.Size()))
	b.ReportAllocs()
	for b.Loop() {
		tensor.SumTo(d, src)
	}
}

func BenchmarkSumToScalar(b *testing.B) { benchSumTo(b, []int{}...) }

func BenchmarkSumToColumn(b *testing.B) { benchSumTo(b, 4096, 1) }
