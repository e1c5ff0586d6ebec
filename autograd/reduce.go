package autograd

import (
	"fmt"
	"math"

	"github.com/kiln-ml/kiln/kernels"
	"github.com/kiln-ml/kiln/tensor"
)

// Sum returns the sum of all elements as a 0-dimensional Var.
func Sum(x *Var) *Var {
	t := tapeOf("Sum", x)
	xv := contig(t, x.value)
	out := t.alloc()
	out.Storage()[0] = kernels.Sum(xv.Data())
	r := t.result(out)
	if r.record(x) {
		r.backward = func(g *tensor.Tensor) {
			gv := g.Item()
			x.accumulateFn(t, func(dst []float32) {
				for i := range dst {
					dst[i] = gv
				}
			})
		}
	}
	return r
}

// Mean returns the mean of all elements as a 0-dimensional Var.
func Mean(x *Var) *Var { return Scale(Sum(x), 1/float32(max(x.value.Size(), 1))) }

// splitAxis returns the sizes before, along and after dimension dim.
func splitAxis(op string, s []int, dim int) (outer, n, inner, d int) {
	if dim < 0 {
		dim += len(s)
	}
	if dim < 0 || dim >= len(s) {
		panic(fmt.Sprintf("autograd.%s: dimension %d out of range for shape %v", op, dim, s))
	}
	outer, inner = 1, 1
	for i := 0; i < dim; i++ {
		outer *= s[i]
	}
	for i := dim + 1; i < len(s); i++ {
		inner *= s[i]
	}
	return outer, s[dim], inner, dim
}

func reducedShape(s []int, dim int, keep bool) []int {
	out := append([]int(nil), s...)
	if keep {
		out[dim] = 1
		return out
	}
	return append(out[:dim], out[dim+1:]...)
}

// SumAxis sums over dimension dim, keeping it with size 1 if keep is true.
func SumAxis(x *Var, dim int, keep bool) *Var {
	t := tapeOf("SumAxis", x)
	xv := contig(t, x.value)
	outer, n, inner, dim := splitAxis("SumAxis", xv.Shape(), dim)
	out := t.allocZeroed(reducedShape(xv.Shape(), dim, keep)...)
	xd, od := xv.Data(), out.Data()
	for o := 0; o < outer; o++ {
		dst := od[o*inner : (o+1)*inner]
		for i := 0; i < n; i++ {
			kernels.Add(dst, dst, xd[(o*n+i)*inner:(o*n+i+1)*inner])
		}
	}
	r := t.result(out)
	if r.record(x) {
		r.backward = func(g *tensor.Tensor) {
			gd := g.Data()
			x.accumulateFn(t, func(dst []float32) {
				for o := 0; o < outer; o++ {
					for i := 0; i < n; i++ {
						copy(dst[(o*n+i)*inner:(o*n+i+1)*inner], gd[o*inner:(o+1)*inner])
					}
				}
			})
		}
	}
	return r
}

// MeanAxis averages over dimension dim, keeping it with size 1 if keep is true.
func MeanAxis(x *Var, dim int, keep bool) *Var {
	_, n, _, _ := splitAxis("MeanAxis", x.value.Shape(), dim)
	return Scale(SumAxis(x, dim, keep), 1/float32(max(n, 1)))
}

// MaxAxis returns the maximum over dimension dim; the gradient flows to the
// first position that attains it.
func MaxAxis(x *Var, dim int, keep bool) *Var {
	t := tapeOf("MaxAxis", x)
	xv := contig(t, x.value)
	outer, n, inner, dim := splitAxis("MaxAxis", xv.Shape(), dim)
	if n == 0 {
		panic(fmt.Sprintf("autograd.MaxAxis: dimension %d of shape %v is empty", dim, xv.Shape()))
	}
	out := t.alloc(reducedShape(xv.Shape(), dim, keep)...)
	xd, od := xv.Data(), out.Data()
	arg := make([]int32, outer*inner)
	for o := 0; o < outer; o++ {
		for j := 0; j < inner; j++ {
			best, bi := float32(math.Inf(-1)), 0
			for i := 0; i < n; i++ {
				if v := xd[(o*n+i)*inner+j]; v > best || (i == 0 && !(v <= best)) {
					best, bi = v, i
				}
			}
			od[o*inner+j] = best
			arg[o*inner+j] = int32(bi)
		}
	}
	r := t.result(out)
	if r.record(x) {
		r.backward = func(g *tensor.Tensor) {
			gd := g.Data()
			x.accumulateFn(t, func(dst []float32) {
				clear(dst)
				for o := 0; o < outer; o++ {
					for j := 0; j < inner; j++ {
						dst[(o*n+int(arg[o*inner+j]))*inner+j] = gd[o*inner+j]
					}
				}
			})
		}
	}
	return r
}
