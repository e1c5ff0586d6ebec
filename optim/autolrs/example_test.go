package autolrs_test

import (
	"context"
	"fmt"
	"log"

	"github.com/kiln-ml/kiln/optim/autolrs"
)

// tracker stands in for a model: the expected squared error v of SGD that
// follows a drifting optimum with noisy gradients. Small rates lag behind the
// drift, large ones amplify the noise; the best constant rate is about 0.03.
type tracker struct{ v, saved float64 }

func (t *tracker) Checkpoint() error { t.saved = t.v; return nil }
func (t *tracker) Restore() error    { t.v = t.saved; return nil }

func (t *tracker) Train(ctx context.Context, lr float64, losses []float64) error {
	for i := range losses {
		losses[i] = t.v / 2
		t.v = (1-lr)*(1-lr)*t.v + lr*lr + 9e-4
	}
	return ctx.Err()
}

func Example() {
	c, err := autolrs.New(autolrs.Config{MinLR: 1e-4, MaxLR: 1, Seed: 1})
	if err != nil {
		log.Fatal(err)
	}
	// Three stages with the official sizes: 10 probes of 100, 200 and 400
	// steps, then 1000, 2000 and 4000 steps at the best rate found.
	res, err := c.Run(context.Background(), &tracker{v: 1}, 14000)
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range res.Stages {
		fmt.Printf("stage %d: %d probes × %d steps, then %d steps at lr %.2g\n",
			s.Stage, len(s.Probes), s.ProbeSteps, s.TrainSteps, s.LR)
	}
	fmt.Printf("%d steps in all, %d of them probing\n", res.Steps, res.SearchSteps)
	// Output:
	// stage 0: 10 probes × 100 steps, then 1000 steps at lr 0.022
	// stage 1: 10 probes × 200 steps, then 2000 steps at lr 0.041
	// stage 2: 10 probes × 400 steps, then 4000 steps at lr 0.02
	// 14000 steps in all, 7000 of them probing
}
