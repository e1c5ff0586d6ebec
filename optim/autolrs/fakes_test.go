package autolrs

import (
	"context"
	"math"
	"math/rand/v2"
)

// nqm is the noisy quadratic model (the expected dynamics of SGD on a
// quadratic with gradient noise) with a drifting optimum, used as a fake
// trainer with a known best constant learning rate. Per eigendirection λ the
// expected squared distance to the optimum evolves as
//
//	v ← (1 − ηλ)²·v + η²·λ·σ² + q,
//
// the gradient noise (η²λσ²) pulling towards small rates and the drift q of
// the optimum towards large ones. From its steady state the problem is
// stationary, so the best rate is the same in every stage and for every
// budget. The reported training loss ½Σλv carries seeded multiplicative
// noise, like a minibatch loss.
type nqm struct {
	lam   []float64
	v, ck []float64
	q     float64
	noise float64
	rng   *rand.Rand
	steps int
}

func newNQM(seed uint64, noise float64) *nqm {
	r := &nqm{lam: []float64{1, 0.3, 0.1}, v: make([]float64, 3), ck: make([]float64, 3), q: 9e-4, noise: noise,
		rng: rand.New(rand.NewPCG(seed, 17))}
	// Start in the steady state of rate 0.1, away from the best rate.
	for i, lam := range r.lam {
		a := 1 - 0.1*lam
		r.v[i] = (0.01*lam + r.q) / (1 - a*a)
	}
	return r
}

func (r *nqm) Checkpoint() error { copy(r.ck, r.v); return nil }
func (r *nqm) Restore() error    { copy(r.v, r.ck); return nil }

// loss is the exact expected loss.
func (r *nqm) loss() float64 {
	l := 0.0
	for i, lam := range r.lam {
		l += 0.5 * lam * r.v[i]
	}
	return l
}

func (r *nqm) Train(ctx context.Context, lr float64, losses []float64) error {
	for k := range losses {
		losses[k] = r.loss() * (1 + r.noise*r.rng.NormFloat64())
		for i, lam := range r.lam {
			a := 1 - lr*lam
			r.v[i] = a*a*r.v[i] + lr*lr*lam + r.q
		}
		if l := r.loss(); l > 1e30 {
			losses[k] = math.NaN()
		}
	}
	r.steps += len(losses)
	return ctx.Err()
}

// op is one call the controller made on a recordingTrainer.
type op struct {
	kind  string // "ckpt", "restore", "train", "val"
	lr    float64
	steps int
	// fromCheckpoint reports, for "train", that the state equalled the
	// checkpoint bit for bit when training started.
	fromCheckpoint bool
}

// recordingTrainer has a state that moves with every step, produces losses
// from a given function of the learning rate and the step within the
// current Train call run, and records every call.
type recordingTrainer struct {
	state, saved []float64
	lossAt       func(lr float64, x int) float64
	ops          []op
	x            int // steps since the last checkpoint or restore
	steps        int
	val          func(lr float64, x int) float64 // nil: not a Validator
	lastLR       float64
}

func newRecordingTrainer(lossAt func(lr float64, x int) float64) *recordingTrainer {
	return &recordingTrainer{state: []float64{1, 2, 3}, saved: make([]float64, 3), lossAt: lossAt}
}

func (r *recordingTrainer) Checkpoint() error {
	copy(r.saved, r.state)
	r.ops = append(r.ops, op{kind: "ckpt"})
	r.x = 0
	return nil
}

func (r *recordingTrainer) Restore() error {
	copy(r.state, r.saved)
	r.ops = append(r.ops, op{kind: "restore"})
	r.x = 0
	return nil
}

func (r *recordingTrainer) Train(ctx context.Context, lr float64, losses []float64) error {
	same := true
	for i := range r.state {
		same = same && math.Float64bits(r.state[i]) == math.Float64bits(r.saved[i])
	}
	r.ops = append(r.ops, op{kind: "train", lr: lr, steps: len(losses), fromCheckpoint: same})
	for k := range losses {
		losses[k] = r.lossAt(lr, r.x)
		for i := range r.state {
			r.state[i] = r.state[i]*0.999 + lr*float64(i+1)
		}
		r.x++
	}
	r.steps += len(losses)
	r.lastLR = lr
	return nil
}

// validatingTrainer is a recordingTrainer that is also a Validator.
type validatingTrainer struct{ *recordingTrainer }

func (v validatingTrainer) ValidationLoss(ctx context.Context) (float64, error) {
	v.ops = append(v.ops, op{kind: "val"})
	return v.val(v.lastLR, v.x), nil
}
