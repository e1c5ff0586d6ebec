// Package gpt is a small GPT-2 style language model: token and learned
// position embeddings, pre-LayerNorm transformer blocks (causal multi-head
// self-attention and a GELU MLP), a final LayerNorm and a language-model
// head, tied to the token embedding by default. Generation runs an
// incremental forward pass with a key/value cache.
//
//	rng := rand.New(rand.NewPCG(1, 2))
//	model, err := gpt.New(gpt.Tiny(), rng)
//	tape := autograd.NewTape()
//	loss := model.Loss(tape, x, y, batch, ctx) // x, y: [batch*ctx] token ids
//	loss.Backward()
package gpt
