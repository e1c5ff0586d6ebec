package autograd

import (
	"fmt"

	"github.com/kiln-ml/kiln/kernels"
	"github.com/kiln-ml/kiln/tensor"
)

// Embedding returns the rows of w [n, d] selected by ids, shaped
// [shape..., d] (shape defaults to [len(ids)]). It panics if an id is out of
// range. The result is drawn from tape t (nil: the heap).
func Embedding(t *Tape, w *Var, ids []int, shape ...int) *Var {
	if w.tape != nil && t != nil && w.tape != t {
		panic("autograd.Embedding: weight was recorded on a different tape")
	}
	if t == nil {
		t = w.tape
	}
	ws := w.value.Shape()
	if len(ws) != 2 {
		panic(fmt.Sprintf("autograd.Embedding: weight must be 2-D [n, d], has shape %v", ws))
	}
	n, d := ws[0], ws[1]
	if len(shape) == 0 {
		shape = []int{len(ids)}
	}
	shape = tensor.InferShape("autograd.Embedding", shape, len(ids))
	oshape := append(shape, d)
	for i, id := range ids {
		if id < 0 || id >= n {
			panic(fmt.Sprintf("autograd.Embedding: id %d at position %d is out of range [0, %d)", id, i, n))
		}
	}
	wv := contig(t, w.value)
	wd := wv.Data()
	out := t.alloc(oshape...)
	od := out.Data()
	for i, id := range ids {
		copy(od[i*d:(i+1)*d], wd[id*d:(id+1)*d])
	}
	r := t.result(out)
	if r.record(w) {
		r.backward = func(g *tensor.Tensor) {
			gw, fresh := w.gradBuf()
			gwd, gd := gw.Data(), g.Data()
			if fresh {
				clear(gwd)
			}
			// In order of position: the sum per row does not depend on threads.
			for i, id := range ids {
				row := gwd[id*d : (id+1)*d]
				kernels.Add(row, row, gd[i*d:(i+1)*d])
			}
		}
	}
	return r
}
