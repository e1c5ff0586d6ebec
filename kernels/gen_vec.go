package kernels

// The AVX2+FMA vector kernels are generated with avo by a program in its own
// module, so that users of kiln never download it.
//go:generate go run -C internal/gen ./vec -out ../../vec_amd64.s -pkg kernels
