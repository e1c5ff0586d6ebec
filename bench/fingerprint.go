package bench

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/kiln-ml/kiln/autograd"
	"github.com/kiln-ml/kiln/models/gpt"
	"github.com/kiln-ml/kiln/optim"
	"github.com/kiln-ml/kiln/optim/autolrs"
)

// Numerics returns a fingerprint of what this build of kiln computes: a
// hash of a few training steps of a small GPT with every optimizer of the
// suite, of the schedules on fixed inputs and of the AutoLRS forecaster. It
// is part of every run's key, so that results computed by other kernels
// (another CPU path, a changed kernel) or another version of an optimizer
// are not reused, while results of the same numerics are, whatever changed
// elsewhere. It does not depend on the number of threads.
func Numerics() (string, error) {
	h := sha256.New()
	put := func(xs ...float64) {
		var b [8]byte
		for _, x := range xs {
			binary.LittleEndian.PutUint64(b[:], math.Float64bits(x))
			h.Write(b[:])
		}
	}
	cfg := gpt.Config{Vocab: 256, Context: 32, Dim: 64, Layers: 1, Heads: 4}
	const B = 2
	rng := rand.New(rand.NewPCG(1, 2))
	ids := make([]int, B*cfg.Context)
	targets := make([]int, len(ids))
	for i := range ids {
		ids[i], targets[i] = rng.IntN(cfg.Vocab), rng.IntN(cfg.Vocab)
	}
	tape := autograd.NewTape()
	for _, name := range OptimizerNames() {
		m, err := gpt.New(cfg, rand.New(rand.NewPCG(3, 4)))
		if err != nil {
			return "", err
		}
		s := OptimizerSettings{Name: name, Momentum: 0.9, Rank: 4, UpdateGap: 2, Scale: 0.25}
		if name != "sgd" {
			s.Momentum = 0
		}
		if !isLowRank(name) {
			s.Rank, s.UpdateGap, s.Scale = 0, 0, 0
		}
		opt, err := newOptimizer(s, m.Parameters(), 1e-3, nil)
		if err != nil {
			return "", fmt.Errorf("bench: fingerprint: %w", err)
		}
		for range 3 {
			loss := m.Loss(tape, ids, targets, B, cfg.Context)
			loss.Backward()
			put(float64(loss.Item()), optim.GradNorm(m.Parameters()), optim.GradNormL1(m.Parameters()))
			optim.ClipGradNorm(m.Parameters(), 1)
			if err := opt.Step(); err != nil {
				return "", fmt.Errorf("bench: fingerprint: %s: %w", name, err)
			}
			opt.ZeroGrad()
			tape.Reset()
		}
		for _, p := range m.Parameters() {
			for _, v := range p.Value().Data() {
				put(float64(v))
			}
		}
	}
	norms := make([]float64, 50)
	for i := range norms {
		norms[i] = 1 + 0.5*math.Sin(float64(i)/5) + float64(i)/50
	}
	for _, name := range []string{"cosine", "linear", "refined"} {
		sched, err := optim.ParseSchedule(name, len(norms), 0, optim.ScheduleOptions{Norms: norms, NormPower: 1, Smooth: true})
		if err != nil {
			return "", fmt.Errorf("bench: fingerprint: %w", err)
		}
		for i := range norms {
			put(sched.Factor(i))
		}
	}
	losses := make([]float64, 30)
	for i := range losses {
		losses[i] = 2*math.Exp(-0.05*float64(i)) + 1 + 0.01*math.Sin(float64(i))
	}
	c := autolrs.Forecast(losses, false)
	put(c.A, c.B, c.C)
	sum := h.Sum(nil)
	return hex.EncodeToString(sum[:8]), nil
}
