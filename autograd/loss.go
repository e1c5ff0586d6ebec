package autograd

import (
	"fmt"

	"github.com/kiln-ml/kiln/kernels"
	"github.com/kiln-ml/kiln/tensor"
)

func checkTargets(op string, logits *tensor.Tensor, targets []int, ignore int) (rows, cols int) {
	rows, cols = rowsCols(op, logits)
	if len(targets) != rows {
		panic(fmt.Sprintf("autograd.%s: %d targets for logits of shape %v (%d rows)", op, len(targets), logits.Shape(), rows))
	}
	for i, y := range targets {
		if y != ignore && (y < 0 || y >= cols) {
			panic(fmt.Sprintf("autograd.%s: target %d at position %d is out of range [0, %d)", op, y, i, cols))
		}
	}
	return rows, cols
}

// CrossEntropy returns the mean over rows of -log softmax(logits)[target]
// for logits [.., V] and one target per row; rows whose target equals
// ignoreIndex count neither in the sum nor in the mean. As in PyTorch, the
// result is NaN if every row is ignored. targets must not change before
// Backward.
func CrossEntropy(logits *Var, targets []int, ignoreIndex int) *Var {
	t := tapeOf("CrossEntropy", logits)
	lv := contig(t, logits.value)
	rows, cols := checkTargets("CrossEntropy", lv, targets, ignoreIndex)
	logp := t.alloc(rows * cols).Storage()
	kernels.LogSoftmaxRows(logp, lv.Data(), rows, cols)
	var sum float64
	count := 0
	for i, y := range targets {
		if y == ignoreIndex {
			continue
		}
		sum -= float64(logp[i*cols+y])
		count++
	}
	out := t.alloc()
	out.Storage()[0] = float32(sum / float64(count))
	r := t.result(out)
	if r.record(logits) {
		r.backward = func(g *tensor.Tensor) {
			scale := g.Item() / float32(count)
			logits.accumulateFn(t, func(dx []float32) {
				kernels.Exp(dx, logp)
				for i, y := range targets {
					row := dx[i*cols : (i+1)*cols]
					if y == ignoreIndex {
						clear(row)
						continue
					}
					row[y]--
					kernels.Scale(row, row, scale)
				}
			})
		}
	}
	return r
}

// TokenLogProbs returns, for logits [.., V] and one target per row, the
// vector of log softmax(logits)[target] (shape [rows]); ignored rows give 0.
// Sequence log-probabilities for preference losses are sums of these.
func TokenLogProbs(logits *Var, targets []int, ignoreIndex int) *Var {
	t := tapeOf("TokenLogProbs", logits)
	lv := contig(t, logits.value)
	rows, cols := checkTargets("TokenLogProbs", lv, targets, ignoreIndex)
	logp := t.alloc(rows * cols).Storage()
	kernels.LogSoftmaxRows(logp, lv.Data(), rows, cols)
	out := t.alloc(rows)
	od := out.Data()
	for i, y := range targets {
		if y == ignoreIndex {
			od[i] = 0
			continue
		}
		od[i] = logp[i*cols+y]
	}
	r := t.result(out)
	if r.record(logits) {
		r.backward = func(g *tensor.Tensor) {
			gd := g.Data()
			logits.accumulateFn(t, func(dx []float32) {
				kernels.Exp(dx, logp)
				for i, y := range targets {
					row := dx[i*cols : (i+1)*cols]
					if y == ignoreIndex || gd[i] == 0 {
						clear(row)
						continue
					}
					// d logp[y] / d logits = onehot(y) - softmax
					kernels.Scale(row, row, -gd[i])
					row[y] += gd[i]
				}
			})
		}
	}
	return r
}
