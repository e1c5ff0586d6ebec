package safetensors_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/kiln-ml/kiln/nn/safetensors"
)

func Example() {
	dir, err := os.MkdirTemp("", "safetensors-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "model.safetensors")

	err = safetensors.WriteFile(path, map[string]safetensors.Tensor{
		"layer.weight": safetensors.F32([]int{2, 2}, []float32{1, 2, 3, 4}),
		"step":         safetensors.I64([]int{}, []int64{100}),
	}, map[string]string{"format": "pt"})
	if err != nil {
		log.Fatal(err)
	}

	f, err := safetensors.ReadFile(path)
	if err != nil {
		log.Fatal(err)
	}
	w, err := f.Tensor("layer.weight")
	if err != nil {
		log.Fatal(err)
	}
	values, err := w.Float32s()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(f.Names(), f.Metadata["format"])
	fmt.Println(w.DType, w.Shape, values)
	// Output:
	// [layer.weight step] pt
	// F32 [2 2] [1 2 3 4]
}
