// Package align is preference optimization for kiln's language models: the
// data (JSONL pairs, unpaired labels, scored lists), their batching, the
// sequence log-probabilities the losses need, the DPO family of losses
// behind a registry, and the metrics that show whether alignment works.
//
// The pieces of one DPO step:
//
//	pairs, err := align.ReadPairsFile("prefs.jsonl") // TRL's prompt/chosen/rejected
//	cfg := align.TokenizeConfig{Context: model.Config.Context}
//	toks, report, err := align.TokenizePairs(pairs, tokenizer.ByteLevel{}, cfg)
//	ref, err := align.NewReference(model) // frozen copy of the starting policy
//	loss, err := align.New("sigmoid", align.Options{"beta": 0.1})
//
//	batch := align.NewBatch(cfg.Context)
//	batch.FillPairs(toks[:8]) // 16 rows: 8 prompt+chosen, then 8 prompt+rejected
//	logps := align.SequenceLogProbs(model.Forward(tape, batch.IDs, batch.Rows, batch.T), batch)
//	l := loss.Compute(&align.Inputs{Tape: tape, Logps: logps, Ref: ref.LogProbs(batch, nil),
//		Lengths: batch.Lengths}, metrics)
//	l.Backward()
//
// # Conventions
//
// Sequence log-probabilities are sums over completion tokens (never
// averages unless a loss says so); prompt and padding positions carry
// gpt.IgnoreIndex targets. A row keeps its first Context+1 tokens (TRL's
// keep_start truncation): the model reads Context of them. Examples whose
// prompt leaves no completion token inside the context are dropped and
// listed in the Report. Byte-level tokenizers have no end-of-sequence
// token, so none is appended unless TokenizeConfig.EOS names one.
//
// Losses follow the newest TRL where it defines them and the papers
// elsewhere; see shared/specs/preference-losses.md. Every loss is a
// function of sequence log-probabilities (Inputs) composed from autograd
// operations, so its gradient flows to the model. Names lists the
// registered losses; a new loss is one file whose init calls Register.
package align
