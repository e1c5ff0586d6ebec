// Package tensor is kiln's float32 N-dimensional array: a shape, strides and
// an offset over storage that views share. Reshape (when the layout allows),
// Transpose, Permute, Slice and Expand return views without copying;
// Contiguous and Clone copy. Binary operations broadcast as NumPy does.
//
// Random tensors come only from an explicit source, so results are
// reproducible for a seed:
//
//	rng := rand.New(rand.NewPCG(1, 2))
//	w := tensor.Randn(rng, 3, 4)
//	x := tensor.FromSlice([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
//	y := tensor.MatMul(x, w) // [2 4]
//	fmt.Println(y.Shape())
//
// A Pool hands out storage by exact length and takes it back, so that a
// training step that repeats the same shapes reuses the same buffers.
package tensor
