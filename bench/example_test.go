package bench_test

import (
	"context"
	"fmt"
	"log"

	"github.com/kiln-ml/kiln/bench"
)

// A small suite: two optimizers on one task, two schedules, two seeds, then
// the report's files and claims.
func Example() {
	s, err := bench.New(bench.Config{
		Tasks: []string{"logreg-iso"}, Optimizers: []string{"adamw", "lion"}, Schedules: []string{"cosine", "linear"},
		Seeds: []uint64{1, 2}, Sweep: 1, StepsScale: 0.2, Out: "runs/bench-example",
	})
	if err != nil {
		log.Fatal(err)
	}
	rep, err := s.Run(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	if _, err := rep.Write("runs/bench-example", bench.MarkdownOptions{Command: "example"}); err != nil {
		log.Fatal(err)
	}
	for _, c := range rep.Claims {
		fmt.Println(c.Task, c.ID, c.Verdict)
	}
}

func ExampleSweep() {
	fmt.Println(bench.Sweep(0.004, 3))
	// Output: [0.002 0.004 0.008]
}

// Compare pairs two optimizers' final losses by seed; the verdict on "a is
// lower than b" needs the difference to be below zero by two standard
// errors.
func ExampleCompare() {
	seeds := []uint64{1, 2, 3}
	a := []float64{2.50, 2.52, 2.49}
	b := []float64{2.60, 2.61, 2.60}
	c := bench.Compare(seeds, a, seeds, b)
	fmt.Println(c, c.Better())
	// Output: -0.1000 ± 0.0115 supported
}
