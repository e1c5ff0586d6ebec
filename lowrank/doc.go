// Package lowrank is the linear algebra behind kiln's low-rank optimizers
// (GaLore, Natural GaLore, Fira in package optim): truncated SVDs of float32
// gradients, the GaLore projector, and the Woodbury solve of Natural GaLore.
// End users reach it through optim; it imports only gonum and kiln/kernels.
//
// Matrices are row-major float32 (Matrix). The decompositions run in float64:
//
//   - SVD is exact, through the eigen-decomposition of the smaller Gram matrix.
//   - RandomizedSVD is the range finder of Halko, Martinsson and Tropp with
//     oversampling and QR-stabilised power iterations, for large matrices.
//
// Both return the top r singular triplets with a canonical sign (the entry of
// largest magnitude of every singular vector is positive), a deterministic
// basis completion for zero singular values, and the rank clamped to
// min(r, m, n) (see Factors).
//
// A Projector holds the factors of one weight matrix and projects its gradient
// with the semantics of the official GaLore code (projection types std,
// reverse_std, left, right, full; refresh every UpdateGap steps from the
// current gradient; scale α on the way back). Woodbury applies
// (λI + HHᵀ)⁻¹ for a window H of recent low-rank gradients.
//
// The per-step paths (Projector.Project and ProjectBack, Woodbury.PushApply)
// take their outputs as arguments and do not allocate. A non-finite gradient
// is reported as an error wrapping ErrNotFinite and leaves the state as it
// was; wrong shapes are programmer errors and panic.
//
// A GaLore step for an m x n weight W with gradient G:
//
//	proj, _ := lowrank.NewProjector(m, n, lowrank.ProjectorConfig{Rank: 128, UpdateGap: 200, Scale: 0.25})
//	r := lowrank.NewMatrix(proj.LowRankShape())
//	if err := proj.Project(r, g); err != nil { ... }  // refreshes on steps 1, T+1, ...
//	// ... low-rank Adam on r gives the normalised update n ...
//	proj.ProjectBackAdd(w, -stepSize, n)               // W -= stepSize·α·back(n)
package lowrank
