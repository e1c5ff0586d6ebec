package optim

import "github.com/kiln-ml/kiln/autograd"

// NewNaturalGaLore returns Natural GaLore ("Natural GaLore: Accelerating
// GaLore for memory-efficient LLM Training and Fine-tuning") over params:
// GaLore whose low-rank gradient g (flattened) is first replaced by
// (λI + HHᵀ)⁻¹g, the inverse of the damped empirical Fisher matrix of the
// last s low-rank gradients H (the current one included), applied through
// the Woodbury identity with an s x s Cholesky solve. s is cfg.History
// (default 20), λ is cfg.Damping (default 1e-3); the sum HHᵀ is not divided
// by s, as in the official code. The history is kept across refreshes, as
// in the official code, and saved in the state.
//
// The default projection is the paper's one-sided one, so each matrix keeps
// s·r·max(m, n) floats of history: with s = 20 that is ten times its
// moments. Projection "full" is the official code's two-sided variant
// (r x r low-rank gradients, though with SVD factors where the official code
// uses a Tucker decomposition). Groups are as for NewGaLore; Fira settings in
// cfg must be zero.
func NewNaturalGaLore(params []*autograd.Var, cfg LowRankConfig, groups ...Group) (*LowRank, error) {
	return newLowRank(KindNaturalGaLore, "optim.NewNaturalGaLore", params, cfg, groups)
}
