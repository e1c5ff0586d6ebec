// Package nn holds kiln's neural-network building blocks: parameters with
// hierarchical names, Linear, Embedding, LayerNorm, RMSNorm, causal
// multi-head self-attention and the GELU MLP, with GPT-2 style
// initialisation and state dicts saved and loaded as safetensors.
//
// A parameter is an *autograd.Var with a name; a Module lists its
// parameters. Modules take their names at construction:
//
//	rng := rand.New(rand.NewPCG(1, 2))
//	fc := nn.NewLinear("mlp.fc", 128, 512, true, nn.Normal(0.02), rng)
//	y := fc.Forward(x) // x [.., 128] -> [.., 512]
//	params := fc.Parameters() // "mlp.fc.weight", "mlp.fc.bias"
package nn
