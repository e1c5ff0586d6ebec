package align

import "fmt"

// runningMoments is TRL's RunningMoments: a running mean and variance of
// the values it is given, starting from mean 0, variance 1 and a
// negligible count, so the first update sets the mean to the batch mean.
type runningMoments struct {
	mean, variance, count float64
}

func newRunningMoments() runningMoments { return runningMoments{variance: 1, count: 1e-24} }

// update folds in a batch of values (no gradient).
func (r *runningMoments) update(xs []float64) {
	n := float64(len(xs))
	if n == 0 {
		return
	}
	bm := mean(xs)
	bv := 0.0
	for _, x := range xs {
		bv += (x - bm) * (x - bm)
	}
	bv /= n
	d := bm - r.mean
	tot := r.count + n
	r.mean += d * n / tot
	r.variance = (r.variance*r.count + d*d*r.count*n/tot + bv*n) / tot
	r.count = tot
}

func (r *runningMoments) state(prefix string, s map[string]float64) {
	s[prefix+"mean"], s[prefix+"var"], s[prefix+"count"] = r.mean, r.variance, r.count
}

func (r *runningMoments) setState(prefix string, s map[string]float64) error {
	m, ok1 := s[prefix+"mean"]
	v, ok2 := s[prefix+"var"]
	c, ok3 := s[prefix+"count"]
	if !ok1 || !ok2 || !ok3 {
		return fmt.Errorf("align: state lacks %smean, %svar or %scount", prefix, prefix, prefix)
	}
	if !(c > 0) || !(v >= 0) {
		return fmt.Errorf("align: state has count %v and variance %v; want count > 0, variance >= 0", c, v)
	}
	r.mean, r.variance, r.count = m, v, c
	return nil
}
