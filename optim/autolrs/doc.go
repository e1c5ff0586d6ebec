// Package autolrs schedules the learning rate by Bayesian optimisation
// during training, after "AutoLRS: Automatic Learning-Rate Schedule by
// Bayesian Optimization on the Fly" (ICLR 2021), following the authors'
// code (autolrs_server.py) in its constants and rules.
//
// Training is cut into stages, each trained at one constant rate. At the
// start of a stage the controller checkpoints the model and optimizer, then
// tries Probes learning rates (10) in [MinLR, MaxLR]: each probe restores the
// checkpoint, trains τ' steps (100 at first) and fits a·exp(b·x)+c to its
// losses to forecast the loss after the stage's τ steps (1000 at first).
// A Gaussian process over the log learning rate, with a lower-confidence-
// bound acquisition, picks the rate of each next probe. The probe with the
// lowest forecast wins; the controller restores the checkpoint and trains τ
// steps at that rate. τ and τ' double after every stage until τ reaches
// MaxStageSteps (8000); from then on, trainers that can compute a
// validation loss are forecast from 16 validation losses per probe.
//
// Probing costs as many steps as the training it serves (k·τ' = τ), and the
// controller counts every step, so that a run of N steps compares fairly
// with a fixed schedule of N steps. The controller drives training through
// the small Trainer interface (checkpoint, restore, train n steps at a
// rate); it needs one in-memory copy of the parameters and optimizer state.
//
//	c, err := autolrs.New(autolrs.Config{MinLR: 1e-4, MaxLR: 1e-1, Seed: 1})
//	if err != nil { ... }
//	res, err := c.Run(ctx, trainer, 20000) // 20000 steps, probes included
//
// Stage runs one stage at a time for loops that interleave their own
// evaluation or checkpoints; Forecast and FitExp expose the loss forecaster.
package autolrs
