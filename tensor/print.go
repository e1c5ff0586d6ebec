package tensor

import (
	"fmt"
	"strconv"
	"strings"
)

// printEdge is how many leading and trailing entries of a long dimension
// String shows.
const printEdge = 3

// String formats the tensor like NumPy, eliding the middle of long dimensions.
func (t *Tensor) String() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "tensor(")
	if t.Dim() == 0 {
		sb.WriteString(fmtFloat(t.data[t.offset]))
	} else {
		idx := make([]int, t.Dim())
		t.format(&sb, idx, 0, len("tensor("))
	}
	fmt.Fprintf(&sb, ", shape=%v)", t.shape)
	return sb.String()
}

func (t *Tensor) format(sb *strings.Builder, idx []int, d, indent int) {
	sb.WriteByte('[')
	n := t.shape[d]
	for i := 0; i < n; i++ {
		if n > 2*printEdge+1 && i == printEdge {
			if d == t.Dim()-1 {
				sb.WriteString("..., ")
			} else {
				sb.WriteString("...,\n" + strings.Repeat(" ", indent+d+1))
			}
			i = n - printEdge - 1
			continue
		}
		idx[d] = i
		if d == t.Dim()-1 {
			sb.WriteString(fmtFloat(t.At(idx...)))
		} else {
			t.format(sb, idx, d+1, indent)
		}
		if i < n-1 {
			if d == t.Dim()-1 {
				sb.WriteString(", ")
			} else {
				sb.WriteString(",\n" + strings.Repeat(" ", indent+d+1))
			}
		}
	}
	sb.WriteByte(']')
}

func fmtFloat(v float32) string { return strconv.FormatFloat(float64(v), 'g', 6, 32) }
