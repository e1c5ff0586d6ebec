module github.com/kiln-ml/kiln/kernels/internal/gen

go 1.26

require github.com/mmcloughlin/avo v0.5.0 // indirect
