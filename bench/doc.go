// Package bench is kiln's optimizer benchmark: a suite of small tasks (a
// byte-level GPT on the default corpus, an MLP and a family of logistic
// regressions on seeded synthetic data) crossed with optimizers (SGD,
// AdamW, Lion, GaLore, Natural GaLore, Fira) and learning-rate schedules
// (cosine, linear decay, refined, AutoLRS), over several seeds, each
// optimizer at the best rate of a small sweep. It measures the final
// training and validation losses, the time per step, the optimizer's state
// and the peak heap, writes every curve, draws the loss curves shaded
// across seeds, and checks the papers' claims against the numbers
// (Lion matches AdamW with less memory; GaLore nears full-rank quality with
// far less state; Fira closes GaLore's gap; Natural GaLore converges faster
// than GaLore; linear decay matches cosine; refinement improves linear
// decay; AutoLRS beats hand-tuned schedules).
//
// Every run is deterministic: the same settings and seed give the same
// numbers bit for bit, whatever the number of kernel threads. Each finished
// run is stored as JSON under a key that hashes all its settings, so an
// interrupted suite keeps what it finished and a rerun skips it.
//
//	s, err := bench.New(bench.Config{Tasks: []string{"mlp"}, Optimizers: []string{"adamw", "lion"}, Out: "runs/bench"})
//	if err != nil { ... }
//	rep, err := s.Run(ctx)
//	if err != nil { ... }
//	_, err = rep.Write("runs/bench", bench.MarkdownOptions{Command: "kiln bench --tasks mlp"})
package bench
