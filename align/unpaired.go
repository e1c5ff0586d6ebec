package align

import (
	"fmt"

	"github.com/kiln-ml/kiln/autograd"
)

// unpairedRows checks unpaired inputs and returns B.
func unpairedRows(op string, in *Inputs) int {
	n := in.rows(op, true)
	if len(in.Desirable) != n {
		panic(fmt.Sprintf("align.%s: %d labels for %d rows", op, len(in.Desirable), n))
	}
	return n
}

// signs returns the constant +1 for desirable rows and -1 for undesirable.
func (in *Inputs) signs() *autograd.Var {
	return in.fill(len(in.Desirable), func(i int) float32 {
		if in.Desirable[i] {
			return 1
		}
		return -1
	})
}

// unpairedMetrics logs TRL's per-class metrics of unpaired trainers:
// rewards/chosen and rewards/rejected (mean β·r over desirable and over
// undesirable rows, present only when the batch has such rows),
// rewards/margins, logps/chosen, logps/rejected and count/chosen,
// count/rejected.
func unpairedMetrics(m Metrics, in *Inputs, beta float32) {
	if m == nil {
		return
	}
	pv := values(in.Logps)
	var rs, ls [2]float64
	var cnt [2]int
	for i, lp := range pv {
		c := 1
		if in.Desirable[i] {
			c = 0
		}
		rs[c] += float64(beta) * (lp - float64(in.Ref[i]))
		ls[c] += lp
		cnt[c]++
	}
	names := [2]string{"chosen", "rejected"}
	for c := range 2 {
		m.set("count/"+names[c], float64(cnt[c]))
		if cnt[c] > 0 {
			m.set("rewards/"+names[c], rs[c]/float64(cnt[c]))
			m.set("logps/"+names[c], ls[c]/float64(cnt[c]))
		}
	}
	if cnt[0] > 0 && cnt[1] > 0 {
		m.set("rewards/margins", rs[0]/float64(cnt[0])-rs[1]/float64(cnt[1]))
	}
}
