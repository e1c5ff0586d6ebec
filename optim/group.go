package optim

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/kiln-ml/kiln/autograd"
)

// Group gives some parameters their own learning rate and weight decay, as
// PyTorch's parameter groups do. A group selects parameters by name, by
// predicate, or both. Every parameter belongs to one group: the first whose
// Params names it, else the first whose Match accepts it, else one of the
// two default groups, "decay" and "no_decay", split by DefaultDecay.
type Group struct {
	// Name labels the group in errors and in Groups (default "group<i>").
	Name string
	// Params names parameters of the group; a name that is not among the
	// optimizer's parameters is an error.
	Params []string
	// Match selects further parameters.
	Match func(p *autograd.Var) bool
	// LRScale multiplies the base learning rate for the group (nil means 1).
	LRScale *float64
	// WeightDecay replaces the optimizer's weight decay for the group (nil
	// keeps it).
	WeightDecay *float64
}

// GroupInfo describes a resolved group.
type GroupInfo struct {
	Name        string
	LRScale     float64  // multiplier of the base learning rate
	WeightDecay float64  // weight decay of the group's parameters
	Params      []string // names of the members, in the optimizer's order
}

// AllParams is a Match that accepts every parameter. A group
// Group{Match: AllParams} replaces the default grouping, so that weight
// decay applies to every parameter, as PyTorch's optimizers do by default.
func AllParams(*autograd.Var) bool { return true }

// normName matches a name part that stands for a normalisation layer:
// ln, ln1, ln_2, lnf, ln_f, layernorm, rmsnorm, norm, input_layernorm, ...
var normName = regexp.MustCompile(`^ln(_?[0-9]+|_?f|_final)?$|norm`)

// embName matches a name part that stands for an embedding table.
var embName = regexp.MustCompile(`^(wte|wpe)$|emb`)

// DefaultDecay reports whether p gets weight decay under the default
// grouping. As in minGPT and most transformer recipes, only the weight
// matrices of linear layers do: parameters with fewer than two dimensions,
// biases, normalisation gains and embedding tables do not. Norms and
// embeddings are recognised by the parts of the parameter's dotted name
// ("blocks.0.ln1.weight", "wte.weight", "model.embed_tokens.weight").
func DefaultDecay(p *autograd.Var) bool {
	if p.Value().Dim() < 2 {
		return false
	}
	parts := strings.Split(strings.ToLower(p.Name()), ".")
	if parts[len(parts)-1] == "bias" {
		return false
	}
	for _, part := range parts {
		if normName.MatchString(part) || embName.MatchString(part) {
			return false
		}
	}
	return true
}

// group is a resolved group.
type group struct {
	name        string
	lrScale     float64
	weightDecay float64
}

// resolveGroups assigns each parameter (by index) to a group and returns
// the groups; wd is the optimizer's weight decay.
func resolveGroups(params []*autograd.Var, keys []string, wd float64, specs []Group) ([]group, []int, error) {
	var errs []error
	byKey := make(map[string]int, len(keys))
	for i, k := range keys {
		byKey[k] = i
	}
	groups := make([]group, 0, len(specs)+2)
	assign := make([]int, len(params))
	for i := range assign {
		assign[i] = -1
	}
	named := make(map[int]string)
	for gi, s := range specs {
		g := group{name: s.Name, lrScale: 1, weightDecay: wd}
		if g.name == "" {
			g.name = fmt.Sprintf("group%d", gi)
		}
		if s.Params == nil && s.Match == nil {
			errs = append(errs, fmt.Errorf("group %q selects nothing: give it Params or Match", g.name))
		}
		if s.LRScale != nil {
			if err := checkNonNeg(fmt.Sprintf("group %q: learning-rate scale", g.name), *s.LRScale); err != nil {
				errs = append(errs, err)
			}
			g.lrScale = *s.LRScale
		}
		if s.WeightDecay != nil {
			if err := checkNonNeg(fmt.Sprintf("group %q: weight decay", g.name), *s.WeightDecay); err != nil {
				errs = append(errs, err)
			}
			g.weightDecay = *s.WeightDecay
		}
		for _, name := range s.Params {
			i, ok := byKey[name]
			switch {
			case !ok:
				errs = append(errs, fmt.Errorf("group %q names parameter %q, which is not among the optimizer's %d parameters", g.name, name, len(params)))
			case assign[i] >= 0:
				errs = append(errs, fmt.Errorf("parameter %q is named by groups %q and %q", name, named[i], g.name))
			default:
				assign[i] = gi
				named[i] = g.name
			}
		}
		groups = append(groups, g)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	for i, p := range params {
		if assign[i] >= 0 {
			continue
		}
		for gi, s := range specs {
			if s.Match != nil && s.Match(p) {
				assign[i] = gi
				break
			}
		}
	}
	decay, noDecay := -1, -1
	for i, p := range params {
		if assign[i] >= 0 {
			continue
		}
		if DefaultDecay(p) {
			if decay < 0 {
				decay = len(groups)
				groups = append(groups, group{name: "decay", lrScale: 1, weightDecay: wd})
			}
			assign[i] = decay
		} else {
			if noDecay < 0 {
				noDecay = len(groups)
				groups = append(groups, group{name: "no_decay", lrScale: 1})
			}
			assign[i] = noDecay
		}
	}
	return groups, assign, nil
}
