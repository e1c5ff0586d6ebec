package align

import (
	"fmt"
	"math"
	"slices"

	"github.com/kiln-ml/kiln/autograd"
)

// Listwise losses ("LiPO: Listwise Preference Optimization through
// Learning-to-Rank") score each completion by s = β·(π − ref) and compare
// the scores with the labels ψ of its list.

// lists checks listwise inputs and returns the scores s = β·r [N] with
// their values, and the offset of each list.
func listScores(op string, in *Inputs, beta float32) (s *autograd.Var, sv []float64, offsets []int) {
	n := in.rows(op, true)
	if len(in.Scores) != n {
		panic(fmt.Sprintf("align.%s: %d scores for %d rows", op, len(in.Scores), n))
	}
	offsets = make([]int, 0, len(in.ListSizes)+1)
	at := 0
	for _, k := range in.ListSizes {
		if k < 2 {
			panic(fmt.Sprintf("align.%s: a list of %d completions; lists need at least 2", op, k))
		}
		offsets = append(offsets, at)
		at += k
	}
	if at != n {
		panic(fmt.Sprintf("align.%s: list sizes %v add up to %d, not the %d rows", op, in.ListSizes, at, n))
	}
	offsets = append(offsets, n)
	s = autograd.Scale(in.logRatios(), beta)
	return s, values(s), offsets
}

// gather returns x[idx...] (a [len(idx)] Var); gradients scatter back.
func gather(in *Inputs, x *autograd.Var, idx []int) *autograd.Var {
	n := x.Shape()[0]
	return autograd.Reshape(autograd.Embedding(in.Tape, autograd.Reshape(x, n, 1), idx), len(idx))
}

// orderBy returns the indices lo..hi-1 sorted by key descending, ties by index.
func orderBy(lo, hi int, key func(i int) float64) []int {
	idx := make([]int, 0, hi-lo)
	for i := lo; i < hi; i++ {
		idx = append(idx, i)
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		ka, kb := key(a), key(b)
		switch {
		case ka > kb:
			return -1
		case ka < kb:
			return 1
		}
		return 0
	})
	return idx
}

// listPairs returns the pairs (i, j) of rows of one list with ψ_i > ψ_j.
func listPairs(in *Inputs, lo, hi int, fn func(i, j int)) {
	for i := lo; i < hi; i++ {
		for j := lo; j < hi; j++ {
			if in.Scores[i] > in.Scores[j] {
				fn(i, j)
			}
		}
	}
}

// listMetrics logs the loss and the share of ordered pairs (ψ_i > ψ_j) that
// the scores order the same way, strictly.
func listMetrics(m Metrics, in *Inputs, sv []float64, offsets []int, loss *autograd.Var) {
	if m == nil {
		return
	}
	good, all := 0, 0
	for l := 0; l+1 < len(offsets); l++ {
		listPairs(in, offsets[l], offsets[l+1], func(i, j int) {
			all++
			if sv[i] > sv[j] {
				good++
			}
		})
	}
	m.set("rewards/pair_accuracy", float64(good)/float64(max(all, 1)))
	m.set("rewards/mean", mean(sv))
	m.set("loss", float64(loss.Item()))
}

type listLoss struct {
	name string
	beta float32
	// perList returns the loss terms of the rows [lo, hi) of one list;
	// the batch loss is the sum of all terms over the number of lists.
	perList func(in *Inputs, s *autograd.Var, sv []float64, lo, hi int) *autograd.Var
}

func (l *listLoss) Name() string { return l.name }

func (l *listLoss) Compute(in *Inputs, m Metrics) *autograd.Var {
	s, sv, offsets := listScores(l.name, in, l.beta)
	var total *autograd.Var
	for i := 0; i+1 < len(offsets); i++ {
		t := l.perList(in, s, sv, offsets[i], offsets[i+1])
		if t == nil {
			continue
		}
		if total == nil {
			total = t
		} else {
			total = autograd.Add(total, t)
		}
	}
	if total == nil {
		// No list has two different labels: nothing to learn, but keep
		// the graph so that Backward gives zero gradients.
		total = autograd.Scale(autograd.Sum(s), 0)
	}
	loss := autograd.Scale(total, 1/float32(len(offsets)-1))
	listMetrics(m, in, sv, offsets, loss)
	return loss
}

func registerList(name, doc string, beta float64, perList func(in *Inputs, s *autograd.Var, sv []float64, lo, hi int) *autograd.Var) {
	Register(Spec{
		Name:      name,
		Doc:       doc,
		Kind:      ListwiseData,
		Reference: true,
		Options:   []Option{{"beta", beta, optBeta.Doc}},
		New: func(o Options) (Loss, error) {
			r := optReader{o: o}
			return &listLoss{name: name, beta: r.positive("beta"), perList: perList}, r.err
		},
	})
}

func init() {
	registerList("lipo", "LiPO-λ: Σ_{ψi>ψj} Δ_ij·softplus(−(s_i − s_j)), Δ the LambdaLoss NDCG weight at the current ranks", 0.05, lipoList)
	registerList("listmle", "ListMLE / Plackett-Luce: Σ_k [LSE(s of ranks k..K) − s of rank k], ranks by label", 0.1, listMLEList)
	registerList("listwise_softmax", "listwise softmax cross-entropy: −Σ (ψ_i/Σψ)·log softmax(s)_i (labels ≥ 0)", 0.1, softmaxList)
	registerList("listwise_pairwise", "pairwise logistic over all ordered pairs: mean softplus(−(s_i − s_j)) (DPO for K = 2)", 0.1, pairwiseList)
}

// pairTerms gathers s_i − s_j over pairs and weights softplus(−(s_i − s_j)).
func pairTerms(in *Inputs, s *autograd.Var, is, js []int, w []float32) *autograd.Var {
	if len(is) == 0 {
		return nil
	}
	d := autograd.Sub(gather(in, s, js), gather(in, s, is)) // −(s_i − s_j)
	return autograd.Sum(autograd.Mul(autograd.Softplus(d), in.vec(w)))
}

func lipoList(in *Inputs, s *autograd.Var, sv []float64, lo, hi int) *autograd.Var {
	is, js, w := lambdaWeights(in.Scores, sv, lo, hi)
	return pairTerms(in, s, is, js, w)
}

// lambdaWeights returns the ordered pairs (ψ_i > ψ_j) of rows [lo, hi) and
// their LambdaLoss weights Δ_ij = |G_i − G_j|·|1/D(τ_i) − 1/D(τ_j)|, gain
// G = 2^ψ − 1, discount D(τ) = log₂(1 + τ), τ the 1-based rank by the
// current scores sv, descending, ties by index (no gradient).
func lambdaWeights(psi []float32, sv []float64, lo, hi int) (is, js []int, w []float32) {
	rank := make([]float64, hi-lo)
	for r, i := range orderBy(lo, hi, func(i int) float64 { return sv[i] }) {
		rank[i-lo] = float64(r + 1)
	}
	gain := func(i int) float64 { return math.Exp2(float64(psi[i])) - 1 }
	disc := func(i int) float64 { return 1 / math.Log2(1+rank[i-lo]) }
	for i := lo; i < hi; i++ {
		for j := lo; j < hi; j++ {
			if psi[i] > psi[j] {
				is, js = append(is, i), append(js, j)
				w = append(w, float32(math.Abs(gain(i)-gain(j))*math.Abs(disc(i)-disc(j))))
			}
		}
	}
	return is, js, w
}

func pairwiseList(in *Inputs, s *autograd.Var, _ []float64, lo, hi int) *autograd.Var {
	var is, js []int
	listPairs(in, lo, hi, func(i, j int) { is, js = append(is, i), append(js, j) })
	w := make([]float32, len(is))
	for k := range w {
		w[k] = 1 / float32(len(is))
	}
	return pairTerms(in, s, is, js, w)
}

func listMLEList(in *Inputs, s *autograd.Var, sv []float64, lo, hi int) *autograd.Var {
	order := orderBy(lo, hi, func(i int) float64 { return float64(in.Scores[i]) })
	sorted := gather(in, s, order)
	K := hi - lo
	var total *autograd.Var
	for k := 0; k < K-1; k++ {
		tail := autograd.Slice(sorted, 0, k, K)
		mx := math.Inf(-1)
		for _, i := range order[k:] {
			mx = max(mx, sv[i])
		}
		// LSE with the maximum subtracted as a constant.
		lse := autograd.AddScalar(autograd.Log(autograd.Sum(autograd.Exp(autograd.AddScalar(tail, -float32(mx))))), float32(mx))
		term := autograd.Sub(lse, autograd.Slice(sorted, 0, k, k+1))
		if total == nil {
			total = term
		} else {
			total = autograd.Add(total, term)
		}
	}
	return autograd.Sum(total)
}

func softmaxList(in *Inputs, s *autograd.Var, _ []float64, lo, hi int) *autograd.Var {
	sum := 0.0
	for i := lo; i < hi; i++ {
		if in.Scores[i] < 0 {
			panic(fmt.Sprintf("align.listwise_softmax: label %v < 0; this loss needs non-negative labels", in.Scores[i]))
		}
		sum += float64(in.Scores[i])
	}
	if sum == 0 {
		return nil
	}
	w := make([]float32, hi-lo)
	for i := range w {
		w[i] = -float32(float64(in.Scores[lo+i]) / sum)
	}
	logp := autograd.LogSoftmax(autograd.Slice(s, 0, lo, hi))
	return autograd.Sum(autograd.Mul(logp, in.vec(w)))
}
