package bench

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/kiln-ml/kiln/autograd"
)

// Task is one benchmark problem: a model, its data and a fixed step budget.
// Everything about it is fixed by its name and settings except the seed of a
// run, which chooses the initial weights and the order of the batches.
type Task interface {
	// Name is the task's short name, as --tasks takes it.
	Name() string
	// Description says what the task is, in one line.
	Description() string
	// Budget returns the step budget and evaluation plan with the task's
	// step count multiplied by scale.
	Budget(scale float64) Budget
	// LR returns the centre of the learning-rate sweep of an optimizer on
	// this task: the sweep is LR·2^k around it, and AutoLRS searches
	// [LR/8, 8·LR].
	LR(optimizer string) float64
	// Rank is the default rank of the low-rank optimizers on this task: a
	// quarter of the smaller side of its smallest projected matrix.
	Rank() int
	// LowRankTarget selects the matrices the low-rank optimizers project;
	// nil means optim.DefaultLowRankTarget (attention and MLP weights).
	LowRankTarget() func(*autograd.Var) bool
	// Settings returns what defines the task (sizes, data), for the key of
	// its runs: a change in it makes stored results stale.
	Settings() map[string]any
	// Prepare loads or generates the task's data, once; NewProblem calls it
	// too.
	Prepare() error
	// NewProblem builds the model and data stream of a run with the given
	// seed.
	NewProblem(seed uint64) (Problem, error)
}

// Problem is one run's model and data: a deterministic source of training
// losses and a deterministic validation loss.
type Problem interface {
	// Params returns the parameters to optimize, with unique names.
	Params() []*autograd.Var
	// TrainLoss draws the next training batch from the run's own stream and
	// returns its mean loss, recorded on tape.
	TrainLoss(tape *autograd.Tape) *autograd.Var
	// ValLoss returns the mean loss on the task's fixed validation batches,
	// computed on tape (a tape without gradients), which it resets.
	ValLoss(tape *autograd.Tape) float64
}

// Budget is a task's step budget and evaluation plan.
type Budget struct {
	Steps     int     // optimizer steps per run, AutoLRS probes included
	Warmup    int     // linear warm-up steps of the fixed schedules (and AutoLRS)
	EvalEvery int     // validate every this many steps, and at step 0 and the end
	ClipNorm  float64 // clip gradients to this global ℓ2 norm; 0 disables
}

// scaled returns a task's budget for base steps at scale: warm-up is 10% of
// the steps, as in the GaLore scripts, and validation happens evals times
// (a suite may choose another count).
func scaled(base int, scale float64, evals int, clip float64) Budget {
	steps := max(20, int(math.Round(float64(base)*scale)))
	return Budget{Steps: steps, Warmup: steps / 10, EvalEvery: max(1, steps/evals), ClipNorm: clip}
}

// TaskOptions holds what the tasks need from outside.
type TaskOptions struct {
	// Corpus is the text file of the GPT task ("" is the default corpus,
	// Isaac Newton's Opticks, which ships with Go).
	Corpus string
}

// TaskNames lists the tasks NewTasks knows, in the default order. "logreg"
// also names the whole logistic-regression family, and "all" every task.
func TaskNames() []string {
	return []string{"gpt", "mlp", "logreg-iso", "logreg-ill", "logreg-rot"}
}

// NewTasks returns the named tasks (see TaskNames), in the order given,
// without duplicates.
func NewTasks(names []string, opts TaskOptions) ([]Task, error) {
	var expanded []string
	for _, n := range names {
		n = strings.TrimSpace(n)
		switch n {
		case "all":
			expanded = append(expanded, TaskNames()...)
		case "logreg":
			expanded = append(expanded, "logreg-iso", "logreg-ill", "logreg-rot")
		case "":
		default:
			expanded = append(expanded, n)
		}
	}
	var out []Task
	var seen []string
	for _, n := range expanded {
		if slices.Contains(seen, n) {
			continue
		}
		seen = append(seen, n)
		var t Task
		switch n {
		case "gpt":
			t = newGPTTask(opts.Corpus)
		case "mlp":
			t = newMLPTask()
		case "logreg-iso":
			t = newLogRegTask(n, "logistic regression, isotropic features", 32, 4, 1, false,
				lrCentres{"sgd": 0.125, "adamw": 0.02, "lion": 0.005, "galore": 0.15, "natural-galore": 0.3, "fira": 0.04})
		case "logreg-ill":
			t = newLogRegTask(n, "logistic regression, axis-aligned ill-conditioned features (condition number 100)", 64, 8, 100, false,
				lrCentres{"sgd": 1, "adamw": 0.08, "lion": 0.02, "galore": 0.6, "natural-galore": 0.6, "fira": 0.15})
		case "logreg-rot":
			t = newLogRegTask(n, "logistic regression, rotated ill-conditioned features (condition number 100)", 64, 8, 100, true,
				lrCentres{"sgd": 1, "adamw": 0.2, "lion": 0.025, "galore": 0.6, "natural-galore": 0.6, "fira": 0.3})
		default:
			return nil, fmt.Errorf("bench: unknown task %q (want one of %s, logreg or all)", n, strings.Join(TaskNames(), ", "))
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("bench: no tasks selected (want one or more of %s, logreg or all)", strings.Join(TaskNames(), ", "))
	}
	return out, nil
}

// allMatrices selects every 2-D parameter: the low-rank target of the tasks
// whose only matrices are the ones worth projecting.
func allMatrices(p *autograd.Var) bool { return p.Value().Dim() == 2 }
