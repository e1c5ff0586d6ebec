package autolrs

import "context"

// Trainer is the training run the controller drives. AutoLRS needs to try a
// learning rate for a few steps and then go back, so the trainer keeps one
// checkpoint of the model and optimizer state (in memory: one extra copy of
// the parameters and optimizer moments).
//
// The data stream is not part of the checkpoint: as in the official code,
// every probe and every stage consumes fresh batches.
type Trainer interface {
	// Checkpoint saves the current parameters and optimizer state, replacing
	// the previous checkpoint.
	Checkpoint() error
	// Restore returns the parameters and optimizer state to the last
	// checkpoint exactly; it may be called many times per checkpoint.
	Restore() error
	// Train runs len(losses) optimizer steps at the constant learning rate lr
	// and stores the training loss of each step in losses, in order. A
	// diverging run reports NaN or ±Inf losses rather than an error; an
	// error stops the controller. It should return ctx.Err() promptly once
	// ctx is done.
	Train(ctx context.Context, lr float64, losses []float64) error
}

// Validator is implemented by trainers that can report a validation loss.
// Once the stages stop growing, the controller forecasts from validation
// losses measured during each probe (ValidationPoints of them), as the
// official code does; trainers without it keep forecasting from training
// losses. Config.NoValidation ignores it.
type Validator interface {
	// ValidationLoss returns the loss of the current parameters on held-out
	// data; it must not change the parameters or optimizer state.
	ValidationLoss(ctx context.Context) (float64, error)
}
