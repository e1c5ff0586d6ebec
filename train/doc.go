// Package train is the training loop a Go program embeds: steps with a
// learning-rate schedule, gradient clipping, periodic validation, callbacks,
// metrics written as JSON lines, checkpoints written atomically, resumption
// that continues the same run bit for bit, and loss-curve plots. The loop
// stops cleanly when its context is cancelled, saving a checkpoint first.
//
//	tr, err := train.New(train.Config{Steps: 2000, Batch: 16, Context: 128, LR: 3e-4, OutDir: "runs/x"},
//		model, opt, dataset)
//	res, err := tr.Run(ctx)
package train
