package tensor

// View returns a tensor with the given shape (one dimension may be -1) that
// shares t's storage, and ok false when t's strides cannot express that
// shape without copying. Unlike Reshape it never copies: splitting or
// merging dimensions works whenever the merged dimensions are laid out
// contiguously relative to each other, as in PyTorch's view.
func (t *Tensor) View(shape ...int) (v *Tensor, ok bool) {
	n := t.Size()
	s := InferShape("tensor.View", shape, n)
	if t.IsContiguous() {
		return t.view(s, contiguousStrides(s), t.offset), true
	}
	st, ok := viewStrides(t.shape, t.strides, s)
	if !ok {
		return nil, false
	}
	return t.view(s, st, t.offset), true
}

// viewStrides finds strides for newShape over memory laid out as
// (oldShape, oldStrides), walking chunks of dimensions that are contiguous
// with respect to each other from the innermost outwards.
func viewStrides(oldShape, oldStrides, newShape []int) ([]int, bool) {
	newStrides := make([]int, len(newShape))
	if len(oldShape) == 0 {
		for i := range newStrides {
			newStrides[i] = 1
		}
		return newStrides, true
	}
	viewD := len(newShape) - 1
	chunkBase := oldStrides[len(oldStrides)-1]
	tensorNumel, viewNumel := 1, 1
	for d := len(oldShape) - 1; d >= 0; d-- {
		tensorNumel *= oldShape[d]
		if d == 0 || (oldShape[d-1] != 1 && oldStrides[d-1] != tensorNumel*chunkBase) {
			for viewD >= 0 && (viewNumel < tensorNumel || newShape[viewD] == 1) {
				newStrides[viewD] = viewNumel * chunkBase
				viewNumel *= newShape[viewD]
				viewD--
			}
			if viewNumel != tensorNumel {
				return nil, false
			}
			if d > 0 {
				chunkBase = oldStrides[d-1]
				tensorNumel, viewNumel = 1, 1
			}
		}
	}
	if viewD != -1 {
		return nil, false
	}
	return newStrides, true
}
