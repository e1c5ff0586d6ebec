package lowrank_test

import (
	"fmt"

	"github.com/kiln-ml/kiln/lowrank"
)

// A GaLore-style loop for one 3x2 weight: project the gradient to rank 1,
// run the low-rank optimizer there (here plain SGD), and apply the update
// through the back-projection.
func Example() {
	w := lowrank.Matrix{Rows: 3, Cols: 2, Data: []float32{0.5, -0.3, 0.2, 0.8, -0.6, 0.1}}
	g := lowrank.Matrix{Rows: 3, Cols: 2, Data: []float32{0.3, -0.1, 0.2, 0.4, -0.5, 0.2}}

	proj, err := lowrank.NewProjector(3, 2, lowrank.ProjectorConfig{Rank: 1, UpdateGap: 200, Scale: 0.25})
	if err != nil {
		panic(err)
	}
	r := lowrank.NewMatrix(proj.LowRankShape()) // 3x1: m >= n, so the right side is projected
	if err := proj.Project(r, g); err != nil {  // the first call computes Q from g
		panic(err)
	}
	fmt.Printf("side %v, R %dx%d, Q = [%.4f %.4f]\n", proj.Side(), r.Rows, r.Cols, proj.Q().Data[0], proj.Q().Data[1])
	fmt.Printf("R = [%.4f %.4f %.4f]\n", r.Data[0], r.Data[1], r.Data[2])

	proj.ProjectBackAdd(w, -0.1, r) // W -= 0.1·α·R·Q
	fmt.Printf("W = %.4f\n", w.Data)
	// Output:
	// side right, R 3x1, Q = [0.9649 -0.2627]
	// R = [0.3157 0.0879 -0.5350]
	// W = [0.4924 -0.2979 0.1979 0.8006 -0.5871 0.0965]
}

// The Natural GaLore transform: with the current gradient as the only history
// vector, (λI + ggᵀ)⁻¹g = g/(λ + ‖g‖²).
func ExampleWoodbury() {
	fisher, err := lowrank.NewWoodbury(4, lowrank.WoodburyConfig{History: 20, Damping: 1e-3})
	if err != nil {
		panic(err)
	}
	g := []float32{0.3, -0.1, 0.2, 0.4}
	nat := make([]float32, 4)
	if err := fisher.PushApply(nat, g); err != nil {
		panic(err)
	}
	fmt.Printf("%.6f\n", nat)
	// Output:
	// [0.996678 -0.332226 0.664452 1.328904]
}

// A truncated SVD. With both sides requested, the singular vectors of the
// smaller dimension (here U, 2x2) have their entry of largest magnitude
// positive, and V is signed to match, so that A·v = σ·u.
func ExampleSVD_Factorize() {
	a := lowrank.Matrix{Rows: 2, Cols: 3, Data: []float32{3, 0, 0, 0, -4, 0}}
	var svd lowrank.SVD
	f, err := svd.Factorize(a, 5, lowrank.SideBoth) // rank clamped to 2
	if err != nil {
		panic(err)
	}
	fmt.Println("rank", f.Rank(), "S", f.S)
	fmt.Println("U", f.U.Data)
	fmt.Println("Vt", f.Vt.Data)
	// Output:
	// rank 2 S [4 3]
	// U [0 1 1 0]
	// Vt [0 -1 0 1 0 0]
}
