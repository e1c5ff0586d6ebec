package optim

import "github.com/kiln-ml/kiln/autograd"

// NewGaLore returns GaLore ("GaLore: Memory-Efficient LLM Training by
// Gradient Low-Rank Projection") over params, with the semantics of the
// official code: the gradient of each target matrix is projected to rank r
// by the top singular vectors of a recent gradient (recomputed every
// UpdateGap steps), the base optimizer (by default the Hugging Face-style
// AdamW) keeps its moments in the low-rank space, and its direction is
// projected back and scaled by α. The moments are carried across refreshes
// unchanged unless Reproject says otherwise. For an m x n matrix the state
// is r·min(m, n) floats of projector plus 2r·max(m, n) of moments, against
// Adam's 2mn (see LowRankStateBytes).
//
// Groups override the learning rate and weight decay of some parameters (see
// Group); parameters no group claims get the default grouping (see
// DefaultDecay). Natural GaLore and Fira settings in cfg must be zero.
func NewGaLore(params []*autograd.Var, cfg LowRankConfig, groups ...Group) (*LowRank, error) {
	return newLowRank(KindGaLore, "optim.NewGaLore", params, cfg, groups)
}
