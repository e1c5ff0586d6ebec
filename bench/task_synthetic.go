package bench

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"

	"github.com/kiln-ml/kiln/autograd"
	"github.com/kiln-ml/kiln/nn"
	"github.com/kiln-ml/kiln/tensor"
)

// dataSeed fixes the synthetic data sets: they are part of the task, the
// same for every run and seed.
const dataSeed = 0x6b696c6e6461

// classification is a synthetic classification data set: inputs [n, dim]
// row-major and one label per row.
type classification struct {
	dim, classes int
	trainX       []float32
	trainY       []int
	valX         []float32
	valY         []int
}

// sampleSoftmax draws a label from softmax(logits).
func sampleSoftmax(rng *rand.Rand, logits []float64) int {
	m := math.Inf(-1)
	for _, l := range logits {
		m = max(m, l)
	}
	var z float64
	for _, l := range logits {
		z += math.Exp(l - m)
	}
	u := rng.Float64() * z
	for k, l := range logits {
		u -= math.Exp(l - m)
		if u <= 0 {
			return k
		}
	}
	return len(logits) - 1
}

// classifier is a model over a classification data set: a forward map from
// inputs [B, dim] to logits [B, classes].
type classifier struct {
	params  []*autograd.Var
	forward func(x *autograd.Var) *autograd.Var
}

// classProblem is a run on a classification task: minibatches drawn with
// replacement by the run's seed, validation on the whole held-out set.
type classProblem struct {
	d     *classification
	m     classifier
	batch int
	rng   *rand.Rand
	x     *tensor.Tensor // [batch, dim]
	y     []int
	valX  *tensor.Tensor
	valB  int
}

func newClassProblem(d *classification, m classifier, batch int, seed uint64) *classProblem {
	p := &classProblem{d: d, m: m, batch: batch, rng: rand.New(rand.NewPCG(seed, 0x62617463686573)),
		x: tensor.New(batch, d.dim), y: make([]int, batch)}
	p.valB = len(d.valY)
	p.valX = tensor.FromSlice(d.valX, p.valB, d.dim)
	return p
}

func (p *classProblem) Params() []*autograd.Var { return p.m.params }

func (p *classProblem) TrainLoss(tape *autograd.Tape) *autograd.Var {
	n, dim := len(p.d.trainY), p.d.dim
	xs := p.x.Data()
	for r := range p.batch {
		i := p.rng.IntN(n)
		copy(xs[r*dim:(r+1)*dim], p.d.trainX[i*dim:(i+1)*dim])
		p.y[r] = p.d.trainY[i]
	}
	return autograd.CrossEntropy(p.m.forward(tape.Const(p.x)), p.y, -1)
}

func (p *classProblem) ValLoss(tape *autograd.Tape) float64 {
	v := float64(autograd.CrossEntropy(p.m.forward(tape.Const(p.valX)), p.d.valY, -1).Item())
	tape.Reset()
	return v
}

// mlpTask is a small MLP (two hidden GELU layers) learning a random
// teacher network's noisy labels: a non-convex problem with a known best
// achievable loss well above zero.
type mlpTask struct {
	in, hidden, classes, teacher int
	nTrain, nVal, batch, steps   int

	once sync.Once
	d    *classification
}

func newMLPTask() *mlpTask {
	return &mlpTask{in: 32, hidden: 128, classes: 10, teacher: 64, nTrain: 32768, nVal: 2048, batch: 64, steps: 400}
}

func (t *mlpTask) Name() string { return "mlp" }

func (t *mlpTask) Description() string {
	return fmt.Sprintf("MLP %d-%d-%d-%d (GELU) on labels sampled from a random teacher MLP (%d train / %d validation examples, batch %d)",
		t.in, t.hidden, t.hidden, t.classes, t.nTrain, t.nVal, t.batch)
}

func (t *mlpTask) Budget(scale float64) Budget { return scaled(t.steps, scale, 10, 0) }

func (t *mlpTask) LR(optimizer string) float64 {
	return lrCentres{"sgd": 0.05, "adamw": 8e-3, "lion": 1e-3, "galore": 1.6e-2, "natural-galore": 1.6e-2, "fira": 1.6e-2}.centre(optimizer)
}

func (t *mlpTask) Rank() int { return t.in / 4 }

func (t *mlpTask) LowRankTarget() func(*autograd.Var) bool { return nil }

func (t *mlpTask) Settings() map[string]any {
	return map[string]any{"in": t.in, "hidden": t.hidden, "classes": t.classes, "teacher": t.teacher,
		"train": t.nTrain, "val": t.nVal, "batch": t.batch, "steps": t.steps, "data_seed": uint64(dataSeed)}
}

// data draws the teacher and the examples once: x ~ N(0, I), label drawn
// from softmax(3·teacher(x)/std) with teacher(x) = V·tanh(U·x).
func (t *mlpTask) data() *classification {
	t.once.Do(func() {
		rng := rand.New(rand.NewPCG(dataSeed, 1))
		u := make([]float64, t.teacher*t.in)
		v := make([]float64, t.classes*t.teacher)
		for i := range u {
			u[i] = rng.NormFloat64() * 2 / math.Sqrt(float64(t.in))
		}
		for i := range v {
			v[i] = rng.NormFloat64() / math.Sqrt(float64(t.teacher))
		}
		h := make([]float64, t.teacher)
		logits := make([]float64, t.classes)
		d := &classification{dim: t.in, classes: t.classes}
		draw := func(n int) ([]float32, []int) {
			xs := make([]float32, n*t.in)
			ys := make([]int, n)
			for r := range n {
				x := xs[r*t.in : (r+1)*t.in]
				for i := range x {
					x[i] = float32(rng.NormFloat64())
				}
				for j := range h {
					s := 0.0
					for i, xi := range x {
						s += u[j*t.in+i] * float64(xi)
					}
					h[j] = math.Tanh(s)
				}
				for k := range logits {
					s := 0.0
					for j, hj := range h {
						s += v[k*t.teacher+j] * hj
					}
					logits[k] = 3 * s
				}
				ys[r] = sampleSoftmax(rng, logits)
			}
			return xs, ys
		}
		d.trainX, d.trainY = draw(t.nTrain)
		d.valX, d.valY = draw(t.nVal)
		t.d = d
	})
	return t.d
}

func (t *mlpTask) Prepare() error { t.data(); return nil }

func (t *mlpTask) NewProblem(seed uint64) (Problem, error) {
	d := t.data()
	rng := rand.New(rand.NewPCG(seed, 0x6d6c702d696e6974))
	he := func(fanIn int) nn.Init { return nn.Normal(float32(math.Sqrt(2 / float64(fanIn)))) }
	fc1 := nn.NewLinear("mlp.fc1", t.in, t.hidden, true, he(t.in), rng)
	fc2 := nn.NewLinear("mlp.fc2", t.hidden, t.hidden, true, he(t.hidden), rng)
	head := nn.NewLinear("head", t.hidden, t.classes, true, nn.Normal(float32(1/math.Sqrt(float64(t.hidden)))), rng)
	m := classifier{
		params: nn.Collect(fc1, fc2, head),
		forward: func(x *autograd.Var) *autograd.Var {
			return head.Forward(autograd.GELU(fc2.Forward(autograd.GELU(fc1.Forward(x)))))
		},
	}
	return newClassProblem(d, m, t.batch, seed), nil
}

// logRegTask is multinomial logistic regression on Gaussian features with
// a chosen condition number, axis-aligned or randomly rotated (which matters
// to the diagonal and sign-based optimizers), and labels sampled from a
// teacher whose logits weigh every eigendirection equally: a convex problem
// whose best achievable loss is well above zero.
type logRegTask struct {
	name, desc          string
	dim, classes        int
	cond                float64
	rotate              bool
	nTrain, nVal, batch int
	steps               int
	lrs                 lrCentres

	once sync.Once
	d    *classification
}

func newLogRegTask(name, desc string, dim, classes int, cond float64, rotate bool, lrs lrCentres) *logRegTask {
	return &logRegTask{name: name, desc: desc, dim: dim, classes: classes, cond: cond, rotate: rotate,
		nTrain: 16384, nVal: 2048, batch: 64, steps: 300, lrs: lrs}
}

func (t *logRegTask) Name() string { return t.name }

func (t *logRegTask) Description() string {
	return fmt.Sprintf("%s: %d features, %d classes, %d train / %d validation examples, batch %d",
		t.desc, t.dim, t.classes, t.nTrain, t.nVal, t.batch)
}

func (t *logRegTask) Budget(scale float64) Budget { return scaled(t.steps, scale, 10, 0) }

func (t *logRegTask) LR(optimizer string) float64 {
	return t.lrs.centre(optimizer)
}

func (t *logRegTask) Rank() int { return max(1, t.classes/4) }

// LowRankTarget projects the weight matrix: it is the only matrix.
func (t *logRegTask) LowRankTarget() func(*autograd.Var) bool { return allMatrices }

func (t *logRegTask) Settings() map[string]any {
	return map[string]any{"dim": t.dim, "classes": t.classes, "cond": t.cond, "rotate": t.rotate,
		"train": t.nTrain, "val": t.nVal, "batch": t.batch, "steps": t.steps, "data_seed": uint64(dataSeed)}
}

// data draws features x = R·diag(√s)·z, z ~ N(0, I), with variances s_i
// from 1 down to 1/cond (log-spaced) and R a random rotation or the
// identity, and labels from softmax(A·z) with A ~ N(0, 4/dim): every
// direction carries the same signal, however small its variance.
func (t *logRegTask) data() *classification {
	t.once.Do(func() {
		rng := rand.New(rand.NewPCG(dataSeed, uint64(t.dim)*1000+uint64(t.classes)))
		d := t.dim
		sd := make([]float64, d)
		for i := range sd {
			sd[i] = math.Pow(t.cond, -0.5*float64(i)/float64(max(1, d-1)))
		}
		var rot []float64
		if t.rotate {
			rot = randomRotation(rng, d)
		}
		a := make([]float64, t.classes*d)
		for i := range a {
			a[i] = rng.NormFloat64() * 2 / math.Sqrt(float64(d))
		}
		z := make([]float64, d)
		logits := make([]float64, t.classes)
		draw := func(n int) ([]float32, []int) {
			xs := make([]float32, n*d)
			ys := make([]int, n)
			for r := range n {
				for i := range z {
					z[i] = rng.NormFloat64()
				}
				x := xs[r*d : (r+1)*d]
				for i := range x {
					if rot == nil {
						x[i] = float32(sd[i] * z[i])
						continue
					}
					s := 0.0
					for j := range d {
						s += rot[i*d+j] * sd[j] * z[j]
					}
					x[i] = float32(s)
				}
				for k := range logits {
					s := 0.0
					for j := range d {
						s += a[k*d+j] * z[j]
					}
					logits[k] = s
				}
				ys[r] = sampleSoftmax(rng, logits)
			}
			return xs, ys
		}
		c := &classification{dim: d, classes: t.classes}
		c.trainX, c.trainY = draw(t.nTrain)
		c.valX, c.valY = draw(t.nVal)
		t.d = c
	})
	return t.d
}

// randomRotation returns a d x d orthogonal matrix (row-major) from
// Gram-Schmidt on Gaussian vectors.
func randomRotation(rng *rand.Rand, d int) []float64 {
	q := make([]float64, d*d)
	for i := range d {
		row := q[i*d : (i+1)*d]
		for {
			for j := range row {
				row[j] = rng.NormFloat64()
			}
			for k := range i {
				prev := q[k*d : (k+1)*d]
				dot := 0.0
				for j := range row {
					dot += row[j] * prev[j]
				}
				for j := range row {
					row[j] -= dot * prev[j]
				}
			}
			n := 0.0
			for _, v := range row {
				n += v * v
			}
			if n > 1e-12 {
				n = math.Sqrt(n)
				for j := range row {
					row[j] /= n
				}
				break
			}
		}
	}
	return q
}

func (t *logRegTask) Prepare() error { t.data(); return nil }

func (t *logRegTask) NewProblem(seed uint64) (Problem, error) {
	d := t.data()
	rng := rand.New(rand.NewPCG(seed, 0x6c6f672d696e6974))
	l := nn.NewLinear("logreg", t.dim, t.classes, true, nn.Normal(0.01), rng)
	m := classifier{params: l.Parameters(), forward: l.Forward}
	return newClassProblem(d, m, t.batch, seed), nil
}
