package align

import (
	"context"
	"fmt"
	"math"

	"github.com/kiln-ml/kiln/models/gpt"
	"github.com/kiln-ml/kiln/models/tokenizer"
)

// Probe measures a policy on fresh samples: how often its completions of
// held-out prompts satisfy a rule, and how far it has moved from the
// reference, as the KL divergence estimated on those samples (spec §10.4).
type Probe struct {
	Prompts   [][]int             // token ids, one completion sampled per prompt
	Sample    SampleConfig        // Temperature must be 0 or 1 for the KL estimate
	Rule      Rule                // nil: KL only
	Tokenizer tokenizer.Tokenizer // decodes completions for the rule and the examples
	Examples  int                 // completions kept in the result to show
}

// ProbeResult is what a Probe measured.
type ProbeResult struct {
	Rule    string `json:"rule,omitempty"`
	Samples int    `json:"samples"`
	Tokens  int    `json:"tokens"` // completion tokens scored
	// Satisfied counts the completions with the rule's property; Rate is
	// their share and RateStdErr its binomial standard error
	// sqrt(p(1−p)/n). MeanScore is the mean rule score, with its standard
	// error.
	Satisfied    int     `json:"satisfied"`
	Rate         float64 `json:"rate"`
	RateStdErr   float64 `json:"rate_stderr"`
	MeanScore    float64 `json:"mean_score"`
	MeanScoreErr float64 `json:"mean_score_stderr"`
	// KL is the per-token KL(policy ‖ reference) estimated with k1 =
	// log π − log π_ref summed over the sampled completions and divided by
	// their tokens, KLStdErr its standard error over completions, and KL3
	// the same with the lower-variance k3 estimator. NaN without a
	// reference or when sampling was tempered.
	KL       float64 `json:"kl_per_token"`
	KLStdErr float64 `json:"kl_per_token_stderr"`
	KL3      float64 `json:"kl3_per_token"`
	// Examples holds the first few prompts and completions (with a
	// Tokenizer).
	Examples []ProbeExample `json:"examples,omitempty"`
}

// ProbeExample is one prompt with a sampled completion.
type ProbeExample struct {
	Prompt     string `json:"prompt"`
	Completion string `json:"completion"`
	Satisfied  bool   `json:"satisfied"`
}

// Run samples one completion per prompt from policy and measures it; ref
// may be nil (no KL), or the policy itself (KL 0).
func (p *Probe) Run(ctx context.Context, policy *gpt.Model, ref *Reference) (ProbeResult, error) {
	res := ProbeResult{Samples: len(p.Prompts), KL: math.NaN(), KLStdErr: math.NaN(), KL3: math.NaN()}
	if len(p.Prompts) == 0 {
		return res, fmt.Errorf("align: probe: no prompts")
	}
	if p.Rule != nil && p.Tokenizer == nil {
		return res, fmt.Errorf("align: probe: a rule needs a tokenizer to decode completions")
	}
	samples, err := Sample(ctx, policy, p.Prompts, 1, p.Sample)
	if err != nil {
		return res, err
	}
	rows := make([]Row, len(samples))
	for i, s := range samples {
		rows[i] = Row{Prompt: p.Prompts[i], Completion: s[0]}
		res.Tokens += len(s[0])
	}
	scores := make([]float64, 0, len(rows))
	for i, r := range rows {
		if p.Tokenizer == nil {
			break
		}
		text := p.Tokenizer.Decode(r.Completion)
		ok := false
		if p.Rule != nil {
			ok = p.Rule.Satisfied(text)
			if ok {
				res.Satisfied++
			}
			scores = append(scores, p.Rule.Score(text))
		}
		if i < p.Examples {
			res.Examples = append(res.Examples, ProbeExample{Prompt: p.Tokenizer.Decode(r.Prompt), Completion: text, Satisfied: ok})
		}
	}
	if p.Rule != nil {
		res.Rule = p.Rule.Name()
		n := float64(len(rows))
		res.Rate = float64(res.Satisfied) / n
		res.RateStdErr = math.Sqrt(res.Rate * (1 - res.Rate) / n)
		res.MeanScore, res.MeanScoreErr = meanStdErr(scores)
	}
	if t := p.Sample.Temperature; ref != nil && (t == 0 || t == 1) {
		res.KL, res.KLStdErr, res.KL3 = sampledKL(policy, ref, rows, res.Tokens)
	}
	return res, nil
}

// meanStdErr returns the mean of v and its standard error.
func meanStdErr(v []float64) (m, se float64) {
	m = mean(v)
	if len(v) < 2 {
		return m, math.NaN()
	}
	ss := 0.0
	for _, x := range v {
		ss += (x - m) * (x - m)
	}
	return m, math.Sqrt(ss / float64(len(v)-1) / float64(len(v)))
}

// probeChunk is the number of rows scored per forward pass.
const probeChunk = 64

// sampledKL returns the per-token k1 and k3 estimates of KL(policy ‖ ref)
// over completions sampled from the policy, and the standard error of k1
// over completions (ratio estimator, tokens fixed).
func sampledKL(policy *gpt.Model, ref *Reference, rows []Row, tokens int) (k1, k1Err, k3 float64) {
	pol := NewScorer(policy)
	b := NewBatch(policy.Config.Context)
	var lp, lr []float32
	perSeq := make([]float64, 0, len(rows))
	for lo := 0; lo < len(rows); lo += probeChunk {
		chunk := rows[lo:min(lo+probeChunk, len(rows))]
		b.FillRows(chunk)
		lp = pol.TokenLogProbs(b, lp)
		lr = ref.TokenLogProbs(b, lr)
		for r := range b.Rows {
			s, s3 := 0.0, 0.0
			for t := r * b.T; t < (r+1)*b.T; t++ {
				if b.Targets[t] == gpt.IgnoreIndex {
					continue
				}
				d := float64(lr[t]) - float64(lp[t])
				s -= d
				s3 += math.Expm1(d) - d
			}
			perSeq = append(perSeq, s)
			k3 += s3
		}
	}
	m, se := meanStdErr(perSeq)
	perTok := float64(len(rows)) / float64(max(tokens, 1))
	return m * perTok, se * perTok, k3 / float64(max(tokens, 1))
}
