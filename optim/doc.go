// Package optim holds kiln's optimizers, gradient clipping and learning-rate
// schedules.
//
// The optimizers follow their reference implementations exactly: SGD, Adam
// and AdamW as torch.optim defines them (momentum, dampening, Nesterov,
// coupled or decoupled weight decay, AMSGrad), the Hugging Face-style AdamW
// that GaLore, Fira and Natural GaLore build on (HFAdamW), and Lion as
// google/automl defines it. Each is a Core — a per-tensor update rule with
// its own state, which a projecting optimizer can also run on low-rank
// gradients — applied to every parameter with a gradient. Updates run in
// fused kernels where kiln has them, in place, and a warm step allocates
// nothing.
//
// Parameters are split into groups with their own learning-rate multiplier
// and weight decay. By default, weight decay applies only to the weight
// matrices of linear layers: biases, norms, embeddings and other 1-D
// parameters are exempt (see DefaultDecay; Group{Match: AllParams} decays
// everything, as PyTorch does by default). State is kept per parameter name
// and exported for checkpoints (State, LoadState, WriteState, ReadState)
// with PyTorch's slot names.
//
// ClipGradNorm and ClipGradValue clip gradients as torch.nn.utils does;
// SkipNonFinite wraps an optimizer so that a step with NaN or infinite
// gradients is skipped and reported.
//
// A Schedule is a pure function from the step to a factor of the peak
// learning rate: Constant (with warm-up), Cosine (with a floor), LinearDecay,
// WSD, and Refined, the schedule of "When, Why and How Much? Adaptive
// Learning Rate Scheduling by Refinement" computed from the gradient norms
// of a previous run. Then and Product compose them; ParseSchedule builds
// them by name.
//
// The smallest use:
//
//	params := model.Parameters()
//	opt, err := optim.NewAdamW(params, optim.AdamWConfig{LR: 3e-4, WeightDecay: 0.1})
//	sched := optim.Cosine{Warmup: 100, Total: 2000, Floor: 0.1}
//	for step := 0; step < 2000; step++ {
//		loss := model.Loss(...)
//		loss.Backward()
//		optim.ClipGradNorm(params, 1.0)
//		opt.SetLR(3e-4 * sched.Factor(step))
//		opt.Step()
//		opt.ZeroGrad()
//	}
package optim
