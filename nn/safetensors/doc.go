// Package safetensors reads and writes the safetensors format, the file layout
// PyTorch and Hugging Face use for weights, and the one kiln uses for
// checkpoints.
//
// A file is an 8-byte little-endian header length N, then N bytes of JSON
// (padded with spaces to a multiple of 8) that map each tensor's name to its
// dtype, shape and byte range, plus an optional "__metadata__" object of
// string pairs, then the data buffer. Tensor data is little-endian and
// row-major; byte ranges are relative to the start of the data buffer and
// tile it exactly, without gaps or overlaps.
//
// Write lays tensors out as the reference implementation does (by dtype
// size, largest first, then by name), so a file written here is byte for
// byte the file the Python library writes for the same tensors and metadata.
// Read checks everything the reference implementation checks (and rejects
// duplicate names, which it silently merges) before allocating anything in
// proportion to what the header claims, so a damaged or hostile file yields
// an error, never a panic or a huge allocation.
//
//	err := safetensors.WriteFile("model.safetensors", map[string]safetensors.Tensor{
//		"w": safetensors.F32([]int{2, 2}, []float32{1, 2, 3, 4}),
//	}, map[string]string{"step": "100"})
//	f, err := safetensors.ReadFile("model.safetensors")
//	t, err := f.Tensor("w")
//	w, err := t.Float32s()
package safetensors
