package tensor

// Strided iteration. The walkers below visit the elements of tensors of one
// shape row by row (a row is the last dimension), handing each row's storage
// offsets and strides to a callback, so the inner loops stay tight.

// walk2 calls fn(ia, sa, ib, sb, n) for every row of a and b, which must
// have the same shape: ia/ib are the storage offsets of the row's first
// element and sa/sb the strides along the row.
func walk2(a, b *Tensor, fn func(ia, sa, ib, sb, n int)) {
	nd := len(a.shape)
	if nd == 0 {
		fn(a.offset, 0, b.offset, 0, 1)
		return
	}
	for _, d := range a.shape {
		if d == 0 {
			return
		}
	}
	n := a.shape[nd-1]
	sa, sb := a.strides[nd-1], b.strides[nd-1]
	var idxBuf [8]int
	var idx []int
	if nd-1 > len(idxBuf) {
		idx = make([]int, nd-1)
	} else {
		idx = idxBuf[:nd-1]
	}
	ia, ib := a.offset, b.offset
	for {
		fn(ia, sa, ib, sb, n)
		// advance the outer multi-index
		k := nd - 2
		for ; k >= 0; k-- {
			idx[k]++
			ia += a.strides[k]
			ib += b.strides[k]
			if idx[k] < a.shape[k] {
				break
			}
			ia -= a.strides[k] * a.shape[k]
			ib -= b.strides[k] * b.shape[k]
			idx[k] = 0
		}
		if k < 0 {
			return
		}
	}
}

func forEach1(t *Tensor, fn func(i int)) {
	walk2(t, t, func(ia, sa, _, _, n int) {
		for j := 0; j < n; j++ {
			fn(ia + j*sa)
		}
	})
}

func forEach2(a, b *Tensor, fn func(i, j int)) {
	walk2(a, b, func(ia, sa, ib, sb, n int) {
		for k := 0; k < n; k++ {
			fn(ia+k*sa, ib+k*sb)
		}
	})
}

// copyStrided copies the elements of src in row-major order into dst.
func copyStrided(dst []float32, src *Tensor) {
	if src.IsContiguous() {
		copy(dst, src.Data())
		return
	}
	k := 0
	walk2(src, src, func(ia, sa, _, _, n int) {
		d := dst[k : k+n]
		if sa == 1 {
			copy(d, src.data[ia:ia+n])
		} else {
			for j := range d {
				d[j] = src.data[ia+j*sa]
			}
		}
		k += n
	})
}
